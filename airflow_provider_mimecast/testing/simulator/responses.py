"""Mimecast's response shapes: the envelope, API 1.0 and 2.0 errors, and rate-limit headers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    """An answer, before it is written to the socket.

    :param status: HTTP status code.
    :param body: the body, sent with an exact ``Content-Length``.
    :param headers: response headers other than ``Content-Length``.
    :param trickle_seconds: when above 0, every byte of the answer (status line included) is sent
        this long after the previous one.
    """

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle_seconds: float = 0.0


def envelope(status: int, data: list[Any] | None = None, fail: list[Any] | None = None) -> Response:
    """A JSON answer in Mimecast's ``{"meta", "data", "fail"}`` envelope."""
    payload = {"meta": {"status": status}, "data": data or [], "fail": fail or []}
    return Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def v1_error(
    status: int, code: str, message: str, *, retryable: bool = False, field: str | None = None
) -> Response:
    """An error in API 1.0's shape: the code sits inside ``fail[].errors[]``."""
    error: dict[str, Any] = {"code": code, "message": message, "retryable": retryable}
    if field is not None:
        error["field"] = field
    return envelope(status, fail=[{"errors": [error]}])


def v2_error(status: int, code: str, message: str) -> Response:
    """An error in API 2.0's shape: the code sits directly on the ``fail`` entry."""
    return envelope(status, fail=[{"code": code, "message": message}])


def rate_headers(limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    """Mimecast's rate-limit headers; the reset is in milliseconds from now."""
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset_ms),
    }


def rate_limited(limit: int, reset_ms: int, remaining: int = 0) -> Response:
    """The 429 Mimecast answers when an API user's bucket is empty (``remaining`` 0), or when another limit
    than the bucket's is reached (an endpoint's own, as Mimecast's SIEM endpoints have)."""
    response = v1_error(429, "err_rate_limit_exceeded", "Rate limit exceeded", retryable=True)
    response.headers.update(rate_headers(limit, remaining, reset_ms))
    return response
