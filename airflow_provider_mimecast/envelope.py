"""Mimecast's response envelope and its mapping to errors: pure functions, no I/O.

Every API answer is ``{"meta": {"status": ...}, "data": [...], "fail": [...]}``, and HTTP 200 does not
mean success: a non-empty ``fail`` is a failure. API 1.0 nests errors (``fail[].errors[]``); API 2.0 puts
``code`` and ``message`` on the fail entry itself. Both shapes are read here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mimecast.errors import (
    FailureDetail,
    MimecastApiError,
    MimecastAuthenticationError,
    MimecastInvalidResponseError,
    MimecastRateLimitError,
    MimecastServerError,
    MimecastTokenExpiredError,
)

#: Role permission each endpoint needs, quoted in 403 hints.
PERMISSIONS = {
    "/api/user/get-import-status": "Directories | Import | Read",
    "/api/user/import-users": "Directories | Import | Edit",
}

_SIGNATURE_CODES = {"err_xdk_invalid_signature", "err_xdk_invalid_app_id", "err_xdk_missing_authorization"}
_AUTH_STATUSES = {401, 403, 418}
#: Wait used when a 429 carries no usable X-RateLimit-Reset header.
DEFAULT_RATE_LIMIT_WAIT = 1.0


@dataclass(frozen=True)
class TokenGrant:
    """An OAuth 2.0 access token and its lifetime in seconds. The token is hidden from repr."""

    access_token: str
    expires_in: float

    def __repr__(self) -> str:
        return f"TokenGrant(access_token='***', expires_in={self.expires_in})"


def excerpt(body: bytes, limit: int = 200) -> str:
    """A short, single-line excerpt of a response body for error messages."""
    text = " ".join(body.decode("utf-8", errors="replace").split())
    return text if len(text) <= limit else text[:limit] + "..."


def parse_failures(fail: Any) -> tuple[FailureDetail, ...]:
    """Flatten a ``fail`` list in either API 1.0 or API 2.0 shape."""
    if not isinstance(fail, list):
        return ()
    details: list[FailureDetail] = []
    for entry in fail:
        if not isinstance(entry, dict):
            details.append(FailureDetail(code="unknown", message=str(entry)))
            continue
        errors = entry.get("errors")
        for error in errors if isinstance(errors, list) and errors else [entry]:
            if not isinstance(error, dict):
                error = {"message": str(error)}
            details.append(
                FailureDetail(
                    code=str(error.get("code") or "unknown"),
                    message=str(error.get("message") or ""),
                    retryable=bool(error.get("retryable", False)),
                    field=error.get("field"),
                    key=entry.get("key"),
                )
            )
    return tuple(details)


def rate_limit_wait(headers: Mapping[str, str]) -> float:
    """Seconds to wait before retrying a 429: ``X-RateLimit-Reset`` is in milliseconds."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        milliseconds = float(lowered["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return DEFAULT_RATE_LIMIT_WAIT
    return max(milliseconds / 1000.0, 0.0)


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
        permission = PERMISSIONS.get(path, "the permission this endpoint needs")
        return f"the API application's user lacks the role permission {permission}"
    return (
        "check the client ID and client secret (API 2.0) or the API 1.0 keys, and that the connection's "
        "host is the right base URL for your account"
    )


def check_response(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    path: str,
    request_id: str | None = None,
    show_body: bool = True,
    allow_item_failures: bool = False,
) -> dict[str, Any]:
    """Return the decoded envelope of a successful answer, or raise the matching :class:`MimecastError`.

    :param status_code: the HTTP status.
    :param headers: the response headers (any case).
    :param body: the raw response body.
    :param path: the request path, used in messages and permission hints.
    :param request_id: the ``x-mc-req-id`` of the request, quoted in every error.
    :param show_body: whether an excerpt of an unparseable body may appear in the error
        (False for the token endpoint, whose body may hold a token).
    :param allow_item_failures: return a 2xx envelope whose ``fail`` lists some items instead of raising,
        for callers that sort per-item failures out themselves (a batch of import IDs).
    """
    where = f"POST {path} answered HTTP {status_code}"
    try:
        document = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict):
        shown = (
            f": {excerpt(body)!r}"
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
            )
        if status_code >= 500:
            raise MimecastServerError(f"{where}{shown}", status_code=status_code, request_id=request_id)
        raise MimecastInvalidResponseError(
            f"{where}, which is not a Mimecast JSON envelope{shown}; a proxy or a wrong base URL usually "
            "causes this",
            status_code=status_code,
            request_id=request_id,
        )

    failures = parse_failures(document.get("fail"))
    codes = {f.code for f in failures}
    if status_code == 429:
        raise MimecastRateLimitError(
            f"{where}: Mimecast's rate limit was exceeded; the call was not executed",
            retry_after=rate_limit_wait(headers),
            failures=failures,
            status_code=status_code,
            request_id=request_id,
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
        )
    if status_code >= 500:
        raise MimecastServerError(where, failures=failures, status_code=status_code, request_id=request_id)
    if status_code >= 400 or (failures and not allow_item_failures):
        raise MimecastApiError(
            f"{where} with errors", failures=failures, status_code=status_code, request_id=request_id
        )
    return document


def envelope_data(
    document: Mapping[str, Any], *, path: str, request_id: str | None = None
) -> list[dict[str, Any]]:
    """The ``data`` list of a successful envelope, checked to be a list of objects."""
    data = document.get("data")
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise MimecastInvalidResponseError(
            f"POST {path}: the envelope's 'data' is not a list of objects (keys: {sorted(document)})",
            request_id=request_id,
        )
    return data


def parse_token_grant(document: Mapping[str, Any]) -> TokenGrant:
    """Read the OAuth 2.0 token answer; the message names keys, never values."""
    token = document.get("access_token")
    if not isinstance(token, str) or not token:
        raise MimecastInvalidResponseError(
            f"POST /oauth/token returned no access_token (keys: {sorted(document)})"
        )
    expires_in = document.get("expires_in", 1799)
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError):
        lifetime = 1799.0
    return TokenGrant(access_token=token, expires_in=lifetime)
