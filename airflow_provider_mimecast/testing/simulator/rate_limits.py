"""Mimecast's rate limit: one refilling bucket per API user, and a forced "rate-limited for a while".

Mimecast's rate-limiting page: limits apply "on a per user basis, across all active authentication keys";
``X-RateLimit-Limit`` is the user's quota, ``X-RateLimit-Remaining`` what is left in the user's bucket,
``X-RateLimit-Reset`` the milliseconds until at least one request is added back. Every answer carries the
three; an empty bucket answers 429 and executes nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from .responses import rate_headers


class Bucket(NamedTuple):
    """How one API user's bucket is metered: ``limit`` requests, ``refill`` added back every ``reset_ms``."""

    limit: int
    refill: int
    reset_ms: int

    def check(self) -> Bucket:
        for name, value in zip(self._fields, self, strict=True):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"the rate-limit bucket's {name} must be a whole number of 1 or more; got {value!r}"
                )
        return self


#: What recorded Mimecast traffic shows: a quota of 800, one request added back about every 5,000 ms.
RECORDED_BUCKET = Bucket(limit=800, refill=1, reset_ms=5000)
#: The simulator's default: as large as the recorded quota's order of magnitude, refilled fast enough that a
#: test which spends it waits a tenth of a second, not minutes.
FAST_BUCKET = Bucket(limit=1000, refill=100, reset_ms=100)


class Rate(NamedTuple):
    """Where one call left its API user's bucket: the three headers of its answer."""

    limit: int
    remaining: int
    reset_ms: int
    #: The bucket was empty: the call is answered 429 and not executed.
    exceeded: bool = False

    def headers(self) -> dict[str, str]:
        return rate_headers(self.limit, self.remaining, self.reset_ms)


class RateLimiter:
    """One refilling bucket per API user; safe to use from many threads.

    Every bucket refills on the same ticks, ``reset_ms`` apart from when the limiter was made (or last
    configured), as a countdown that runs with wall time whether or not the user calls.

    :param bucket: the metering of every API user's bucket.
    :param clock: seconds, monotonic; tests of the limiter itself pass a fake one.
    """

    def __init__(self, bucket: Bucket = FAST_BUCKET, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limited_until = -math.inf
        self.configure(bucket)

    def configure(self, bucket: Bucket) -> None:
        """Meter with ``bucket`` from now on; every API user's bucket starts full."""
        bucket.check()
        with self._lock:
            self.bucket = bucket
            self._epoch = self._clock()
            self._levels: dict[str, tuple[int, int]] = {}  # API user -> (tick last counted, requests left)

    @property
    def limit(self) -> int:
        return self.bucket.limit

    def _level(self, api_user: str, now: float) -> tuple[int, int, int]:
        """(current tick, requests left, ms until the next tick) for ``api_user``; call under the lock."""
        interval = self.bucket.reset_ms / 1000
        tick = math.floor((now - self._epoch) / interval)
        last, left = self._levels.get(api_user, (tick, self.bucket.limit))
        left = min(self.bucket.limit, left + (tick - last) * self.bucket.refill)
        next_tick_ms = math.ceil((self._epoch + (tick + 1) * interval - now) * 1000)
        return tick, left, max(1, next_tick_ms)

    def take(self, api_user: str) -> Rate:
        """Take one request from ``api_user``'s bucket, or answer that it is empty (nothing taken)."""
        with self._lock:
            tick, left, reset_ms = self._level(api_user, self._clock())
            exceeded = left < 1
            if not exceeded:
                left -= 1
            self._levels[api_user] = (tick, left)
        return Rate(self.bucket.limit, left, reset_ms, exceeded)

    def remaining(self, api_user: str) -> int:
        """What ``api_user``'s bucket holds now, without taking anything."""
        with self._lock:
            return self._level(api_user, self._clock())[1]

    def limit_for(self, seconds: float) -> None:
        """Answer every API call with 429 for this long from now, as when an account's limit is used up."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number of seconds, not below 0; got {seconds!r}")
        with self._lock:
            self._limited_until = self._clock() + seconds

    def forced_reset_ms(self) -> int | None:
        """Milliseconds until a :meth:`limit_for` window ends, or None when none is open."""
        with self._lock:
            remaining = self._limited_until - self._clock()
        # Rounded up: a client that waits exactly this long must find the window closed.
        return math.ceil(remaining * 1000) if remaining > 0 else None
