"""API 1.0 request signing: pure functions, no I/O.

Mimecast's API 1.0 authenticates each call with an HMAC-SHA1 over
``"{x-mc-date}:{x-mc-req-id}:{uri}:{appKey}"`` keyed with the Base64-decoded secret key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from datetime import datetime, timezone

#: Header names that API 1.0 requires on every call.
DATE_HEADER = "x-mc-date"
REQUEST_ID_HEADER = "x-mc-req-id"
APP_ID_HEADER = "x-mc-app-id"


def format_mc_date(moment: datetime) -> str:
    """Format ``moment`` as Mimecast's RFC 1123 style date, e.g. ``Tue, 24 Nov 2015 12:50:11 UTC``."""
    if moment.tzinfo is None:
        raise ValueError("format_mc_date needs a timezone-aware datetime")
    return moment.astimezone(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S UTC")


def decode_secret_key(secret_key: str) -> bytes:
    """Decode the Base64 secret key; raise ValueError naming the field when it is not Base64."""
    try:
        return base64.b64decode(secret_key.strip(), validate=True)
    except (binascii.Error, ValueError):
        # The key itself must not reach the message.
        raise ValueError(
            "The connection's password (the API 1.0 secret key) is not valid Base64: "
            "copy the Secret Key exactly as the Mimecast console showed it."
        ) from None


def sign_request(*, secret_key: str, date: str, request_id: str, uri: str, app_key: str) -> str:
    """Return the Base64 HMAC-SHA1 signature of one API 1.0 request.

    :param secret_key: the application's secret key, Base64 as Mimecast issues it.
    :param date: the exact ``x-mc-date`` header value sent with the request.
    :param request_id: the exact ``x-mc-req-id`` header value sent with the request.
    :param uri: the request path, e.g. ``/api/user/get-import-status``.
    :param app_key: the application key.
    """
    message = f"{date}:{request_id}:{uri}:{app_key}".encode()
    digest = hmac.new(decode_secret_key(secret_key), message, hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def hmac_headers(
    *,
    access_key: str,
    secret_key: str,
    app_id: str,
    app_key: str,
    uri: str,
    now: datetime | None = None,
    request_id: str | None = None,
) -> dict[str, str]:
    """Build the four API 1.0 authentication headers for one attempt of one request.

    A fresh date and request ID are made unless given, so that every attempt (retries included)
    is signed anew.
    """
    date = format_mc_date(now or datetime.now(timezone.utc))
    request_id = request_id or str(uuid.uuid4())
    signature = sign_request(
        secret_key=secret_key, date=date, request_id=request_id, uri=uri, app_key=app_key
    )
    return {
        DATE_HEADER: date,
        REQUEST_ID_HEADER: request_id,
        APP_ID_HEADER: app_id,
        "Authorization": f"MC {access_key}:{signature}",
    }
