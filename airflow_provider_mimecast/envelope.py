"""Mimecast's response envelope and its mapping to errors: pure functions, no I/O.

Every API answer is ``{"meta": {"status": ...}, "data": [...], "fail": [...]}``, and HTTP 200 does not
mean success: a non-empty ``fail`` is a failure. API 1.0 nests errors (``fail[].errors[]``); API 2.0 puts
``code`` and ``message`` on the fail entry itself. Both shapes are read here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_mimecast.endpoints import TOKEN, permission
from airflow_provider_mimecast.errors import (
    FailureDetail,
    MimecastApiError,
    MimecastAuthenticationError,
    MimecastInvalidResponseError,
    MimecastRateLimitError,
    MimecastServerError,
    MimecastTokenExpiredError,
)
from airflow_provider_mimecast.redaction import excerpt, listed_keys, redact, scrub_failures, shorten

_SIGNATURE_CODES = {"err_xdk_invalid_signature", "err_xdk_invalid_app_id", "err_xdk_missing_authorization"}
_AUTH_STATUSES = {401, 403, 418}
#: Wait used when a 429 carries no usable X-RateLimit-Reset header.
DEFAULT_RATE_LIMIT_WAIT = 1.0
#: The longest wait read from X-RateLimit-Reset: Mimecast's windows are hourly at most; a longer value is
#: a broken header, and if the limit really lasts longer the next attempt is told so again.
RATE_LIMIT_WAIT_CLAMP = 3600.0
DEFAULT_TOKEN_LIFETIME = 1799.0


@dataclass(frozen=True)
class TokenGrant:
    """An OAuth 2.0 access token and its lifetime in seconds. The token is hidden from repr."""

    access_token: str
    expires_in: float

    def __repr__(self) -> str:
        return f"TokenGrant(access_token='***', expires_in={self.expires_in})"


def _text(value: Any) -> str:
    """``str(value)`` for echoed JSON, bounded: hostile nesting must not turn into a RecursionError."""
    try:
        return shorten(value if isinstance(value, str) else str(value))
    except RecursionError:
        return "<deeply nested value>"


def parse_failures(fail: Any) -> tuple[FailureDetail, ...]:
    """Flatten a ``fail`` list in either API 1.0 or API 2.0 shape."""
    if not isinstance(fail, list):
        return ()
    details: list[FailureDetail] = []
    for entry in fail:
        if not isinstance(entry, dict):
            details.append(FailureDetail(code="unknown", message=_text(entry)))
            continue
        errors = entry.get("errors")
        for error in errors if isinstance(errors, list) and errors else [entry]:
            if not isinstance(error, dict):
                error = {"message": _text(error)}
            details.append(
                FailureDetail(
                    code=_text(error.get("code") or "unknown"),
                    message=_text(error.get("message") or ""),
                    retryable=bool(error.get("retryable", False)),
                    field=error.get("field"),
                    key=entry.get("key"),
                )
            )
    return tuple(details)


def rate_limit_wait(headers: Mapping[str, str]) -> float:
    """Seconds to wait before retrying a 429: ``X-RateLimit-Reset`` is in milliseconds.

    A missing, unparseable, negative or non-finite value gives :data:`DEFAULT_RATE_LIMIT_WAIT`; a huge one
    is clamped to :data:`RATE_LIMIT_WAIT_CLAMP`. Never raises. (A task caps its own wait further with the
    connection's ``max_rate_limit_wait``.)

    :param headers: the response headers, in any case.
    """
    value = next((v for k, v in headers.items() if str(k).lower() == "x-ratelimit-reset"), None)
    try:
        milliseconds = float(str(value).strip())
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_RATE_LIMIT_WAIT
    if not math.isfinite(milliseconds) or milliseconds < 0:
        return DEFAULT_RATE_LIMIT_WAIT
    return min(milliseconds / 1000.0, RATE_LIMIT_WAIT_CLAMP)


def _auth_hint(status_code: int, codes: set[str], path: str) -> str:
    if "token_expired" in codes:
        return "the bearer token expired"
    if status_code == 418 or "err_xdk_binding_expired" in codes:
        return (
            "the API 1.0 keys' binding expired (the TTL in the service user's Authentication Profile): "
            "generate new access and secret keys, or lengthen the TTL"
        )
    if codes & _SIGNATURE_CODES:
        return (
            "check the access key, secret key, app ID and app key; that the connection's host is your "
            "account's regional base URL (another region fails authentication); and that this machine's "
            "clock is correct"
        )
    if status_code == 403:
        needed = permission(path) or "the permission this endpoint needs"
        return f"the API application's user lacks the role permission {needed}"
    return (
        "check the client ID and client secret (API 2.0) or the API 1.0 keys, and that the connection's "
        "host is the right base URL for your account"
    )


def _challenge(headers: Mapping[str, str], secrets: tuple[str, ...]) -> str:
    """The ``error`` of a ``WWW-Authenticate`` challenge (``invalid_token``, ...), for a message; or ''."""
    value = next((str(v) for k, v in headers.items() if str(k).lower() == "www-authenticate"), "")
    match = re.search(r'\berror="?([^",\s]{1,64})', value)
    return f" (WWW-Authenticate error {redact(match.group(1), secrets)!r})" if match else ""


def _redirect_hint(status_code: int, headers: Mapping[str, str], secrets: tuple[str, ...]) -> str:
    if not 300 <= status_code < 400:
        return "a proxy or a wrong base URL usually causes this"
    location = next((str(v) for k, v in headers.items() if str(k).lower() == "location"), "")
    try:
        parts = urlsplit(location)
        # Scheme, host and path only: a login page's query string may carry tokens.
        target = (
            f" to {redact(f'{parts.scheme}://{parts.netloc}{parts.path}', secrets)!r}" if location else ""
        )
    except ValueError:
        target = ""
    return (
        f"a redirect{target}: the HTTP clients do not follow redirects for a POST, so check the connection's "
        "host (the base URL, with https://) and any proxy between Airflow and Mimecast"
    )


def check_response(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    path: str,
    request_id: str | None = None,
    show_body: bool = True,
    secrets: Iterable[str] = (),
    allow_item_failures: bool = False,
) -> dict[str, Any]:
    """Return the decoded envelope of a successful (2xx) answer, or raise the matching :class:`MimecastError`.

    :param status_code: the HTTP status.
    :param headers: the response headers (any case).
    :param body: the raw response body.
    :param path: the request path, used in messages and permission hints.
    :param request_id: the ``x-mc-req-id`` of the request, quoted in every error.
    :param show_body: whether an excerpt of an unparseable body may appear in the error
        (False for the token endpoint, whose body may hold a token).
    :param secrets: the client secret, secret key, app key and current tokens: redacted from every excerpt,
        fail message, code, field and key before it becomes part of an error (see :func:`redact`).
    :param allow_item_failures: return a 2xx envelope whose ``fail`` lists some items instead of raising,
        for callers that sort per-item failures out themselves (a batch of import IDs).
    """
    known = tuple(secrets)
    if request_id is not None:
        # The server may echo any header back as its request ID.
        request_id = shorten(redact(str(request_id), known))
    where = f"POST {path} answered HTTP {status_code}"
    try:
        document = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: a body of deeply nested brackets ([[[[...) exhausts the JSON decoder's stack.
        document = None
    if not isinstance(document, dict):
        shown = (
            f": {excerpt(body, secrets=known)!r}"
            if show_body and body.strip()
            else " with an empty body"
            if not body.strip()
            else ""
        )
        if status_code == 429:
            raise MimecastRateLimitError(
                f"{where} (rate limit)",
                retry_after=rate_limit_wait(headers),
                status_code=429,
                request_id=request_id,
                path=path,
            )
        if status_code >= 500:
            raise MimecastServerError(
                f"{where}{shown}", status_code=status_code, request_id=request_id, path=path
            )
        if status_code == 401:
            # An API gateway refuses a bearer token it does not accept with a bare 401 (RFC 6750's
            # WWW-Authenticate challenge, no envelope). Read as an invalid answer, the dead token would stay
            # cached for its whole life; as an authentication error it is renewed once.
            raise MimecastAuthenticationError(
                f"{where}{shown}{_challenge(headers, known)}: authentication failed "
                f"({_auth_hint(status_code, set(), path)})",
                status_code=status_code,
                request_id=request_id,
                path=path,
            )
        raise MimecastInvalidResponseError(
            f"{where}, which is not a Mimecast JSON envelope{shown}; "
            f"{_redirect_hint(status_code, headers, known)}",
            status_code=status_code,
            request_id=request_id,
            path=path,
        )
    if status_code < 200 or 300 <= status_code < 400:
        # Only 2xx is success, however valid the envelope looks: a 1xx or 3xx came from something that is
        # not Mimecast answering the call.
        raise MimecastInvalidResponseError(
            f"{where}, which is not a success status although the body looks like an envelope; "
            f"{_redirect_hint(status_code, headers, known)}",
            status_code=status_code,
            request_id=request_id,
            path=path,
        )

    failures = scrub_failures(parse_failures(document.get("fail")), known)
    codes = {f.code for f in failures}
    if status_code == 429:
        raise MimecastRateLimitError(
            f"{where}: Mimecast's rate limit was exceeded; the call was not executed",
            retry_after=rate_limit_wait(headers),
            failures=failures,
            status_code=status_code,
            request_id=request_id,
            path=path,
        )
    if status_code in _AUTH_STATUSES or codes & (
        _SIGNATURE_CODES | {"err_xdk_binding_expired", "token_expired"}
    ):
        error_class = MimecastTokenExpiredError if "token_expired" in codes else MimecastAuthenticationError
        raise error_class(
            f"{where}: authentication failed ({_auth_hint(status_code, codes, path)})",
            failures=failures,
            status_code=status_code,
            request_id=request_id,
            path=path,
        )
    if status_code >= 500:
        raise MimecastServerError(
            where, failures=failures, status_code=status_code, request_id=request_id, path=path
        )
    if status_code >= 400 or (failures and not allow_item_failures):
        raise MimecastApiError(
            f"{where} with errors",
            failures=failures,
            status_code=status_code,
            request_id=request_id,
            path=path,
        )
    return document


def envelope_data(
    document: Mapping[str, Any], *, path: str, request_id: str | None = None, secrets: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """The ``data`` list of a successful envelope, checked to be a list of objects.

    :param document: the envelope :func:`check_response` returned.
    :param path: the request path, for the message.
    :param request_id: the ``x-mc-req-id`` to quote.
    :param secrets: values to redact from the keys the message lists.
    """
    data = document.get("data")
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise MimecastInvalidResponseError(
            f"POST {path}: the envelope's 'data' is not a list of objects (keys: {listed_keys(document, secrets)})",
            request_id=request_id,
            path=path,
        )
    return data


def parse_token_grant(document: Mapping[str, Any], *, secrets: Iterable[str] = ()) -> TokenGrant:
    """Read the OAuth 2.0 token answer; the message names keys, never values.

    An ``expires_in`` that is missing, not a number, not finite or not positive counts as Mimecast's
    documented 1799 s: the hook renews on ``token_expired`` anyway.

    :param document: the token endpoint's JSON answer.
    :param secrets: values to redact from the keys the message lists.
    """
    token = document.get("access_token")
    if not isinstance(token, str) or not token:
        raise MimecastInvalidResponseError(
            f"POST {TOKEN.path} returned no access_token (keys: {listed_keys(document, secrets)})",
            path=TOKEN.path,
        )
    expires_in = document.get("expires_in", DEFAULT_TOKEN_LIFETIME)
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError, OverflowError):
        lifetime = DEFAULT_TOKEN_LIFETIME
    if isinstance(expires_in, bool) or not math.isfinite(lifetime) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME
    return TokenGrant(access_token=token, expires_in=lifetime)
