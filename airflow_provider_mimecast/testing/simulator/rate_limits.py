"""Mimecast's per-credential rate limit: a fixed window of calls, and a forced "rate-limited for a while"."""

from __future__ import annotations

import math
import threading
import time
from typing import NamedTuple

from .responses import rate_headers


class Rate(NamedTuple):
    """Where one call left its credential's window."""

    limit: int
    used: int
    reset_ms: int

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        return rate_headers(self.limit, max(0, self.limit - self.used), self.reset_ms)


class RateLimiter:
    """Counts API calls per credential in fixed windows; safe to use from many threads.

    :param limit: calls allowed per credential per window.
    :param window_seconds: length of the fixed window.
    """

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # credential -> (window start, count)
        self._limited_until = -math.inf

    def count(self, authorization: str) -> Rate:
        """Count one call made with this ``Authorization`` header value."""
        key = _rate_key(authorization)
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self.window_seconds:
                start, count = now, 0
            count += 1
            self._windows[key] = (start, count)
        reset_ms = max(0, round((start + self.window_seconds - now) * 1000))
        return Rate(self.limit, count, reset_ms)

    def limit_for(self, seconds: float) -> None:
        """Answer every API call with 429 for this long from now, as when an account's limit is used up."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number of seconds, not below 0; got {seconds!r}")
        with self._lock:
            self._limited_until = time.monotonic() + seconds

    def forced_reset_ms(self) -> int | None:
        """Milliseconds until a :meth:`limit_for` window ends, or None when none is open."""
        with self._lock:
            remaining = self._limited_until - time.monotonic()
        # Rounded up: a client that waits exactly this long must find the window closed.
        return math.ceil(remaining * 1000) if remaining > 0 else None


def _rate_key(authorization: str) -> str:
    # Counted before authentication (a 429 means the call was not executed), so the key is taken from the
    # header as sent: all bearer tokens belong to the one API 2.0 client.
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return "bearer"
    if scheme == "MC":
        return "mc:" + value.partition(":")[0]
    return "anonymous"
