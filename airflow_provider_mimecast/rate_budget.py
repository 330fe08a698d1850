"""What one process knows of one API user's rate-limit bucket, and how long a call must wait. Pure, no I/O.

Mimecast meters requests per API user, across all of that user's keys, in a refilling bucket
(docs/performance.rst, "Mimecast's rate limit: one bucket per API user"): ``X-RateLimit-Limit`` is its
size, ``X-RateLimit-Remaining`` what is left, and ``X-RateLimit-Reset`` the milliseconds until at least one request is added back. The customer's other
integrations (SIEM collectors, scripts) spend from the same bucket, so the provider keeps a reserve, a
fraction of the limit, that it never spends itself: a call waits while sending it would take Remaining
below the reserve.

:class:`RateBudget` learns from the headers of every answer (its own and, through Remaining, everyone
else's spending): the limit, what was left, when the next refill comes, how far apart refills are (the
largest Reset seen, since Reset counts down from one refill to the next) and how many requests each brings
back (the median of what the latest refills were seen to bring, and at least one, as Mimecast documents). Every time is a ``time.monotonic()`` value passed in.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

#: A Reset above this many milliseconds is not a countdown (some clients report an epoch timestamp there).
MAX_RESET_MS = 3_600_000
#: Sent this long after the refill a wait was for: the server's tick and ours are not the same clock.
REFILL_MARGIN_SECONDS = 0.05
#: Before the first answer nothing is known of the bucket: one call goes alone to learn it, and the others
#: ask again this often.
FIRST_ANSWER_WAIT_SECONDS = 0.05
#: Refills remembered to estimate how many requests one brings back.
REFILL_SAMPLES = 32


@dataclass(frozen=True)
class RateHeaders:
    """The three rate-limit headers of one answer."""

    limit: int
    remaining: int
    reset_seconds: float


def read_rate_headers(headers: Mapping[str, str]) -> RateHeaders | None:
    """The rate-limit headers of an answer (names in any case), or None unless all three are usable.

    :param headers: the answer's headers.
    """
    wanted = {"x-ratelimit-limit": None, "x-ratelimit-remaining": None, "x-ratelimit-reset": None}
    found: dict[str, float] = {}
    for name, value in headers.items():
        key = str(name).lower()
        if key in wanted:
            try:
                number = float(str(value).strip())
            except (TypeError, ValueError, OverflowError):
                return None
            if not math.isfinite(number) or number < 0:
                return None
            found[key] = number
    if len(found) != 3 or found["x-ratelimit-limit"] < 1 or found["x-ratelimit-reset"] > MAX_RESET_MS:
        return None
    limit = int(found["x-ratelimit-limit"])
    remaining = min(int(found["x-ratelimit-remaining"]), limit)
    return RateHeaders(limit, remaining, found["x-ratelimit-reset"] / 1000)


class RateBudget:
    """One API user's bucket as this process sees it. Not thread-safe: :mod:`.hooks.rate_budgets` locks it."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self._remaining = 0  # as of the last answer
        self._seen_at = 0.0
        self._next_refill = 0.0
        #: Seconds between two refills: the largest Reset seen.
        self.interval = 0.0
        self._refills: deque[float] = deque(maxlen=REFILL_SAMPLES)
        #: Calls of this process sent (or about to be) and not finished: not yet in any Remaining seen.
        self.in_flight = 0
        #: Calls of this process finished: once one has and no answer carried the headers, nothing is metered.
        self.finished = 0
        #: The lowest Remaining any answer carried, for reports.
        self.lowest_remaining: int | None = None

    @property
    def known(self) -> bool:
        return self.limit is not None

    @property
    def last_remaining(self) -> int | None:
        """``X-RateLimit-Remaining`` of the latest answer."""
        return self._remaining if self.known else None

    @property
    def refill(self) -> float:
        """Requests one refill brings back, as far as seen (the median of the latest refills: others' spending
        hides some, answers that overtook each other add some): at least one, as Mimecast documents."""
        return max(1.0, statistics.median(self._refills)) if self._refills else 1.0

    @property
    def refill_rate(self) -> float | None:
        """Requests per second the bucket gets back, or None before two answers told how often."""
        return self.refill / self.interval if self.known and self.interval > 0 else None

    def observe(
        self, seen: RateHeaders, now: float, *, limited: bool = False, answered_since: int = 1
    ) -> None:
        """Learn from the headers of an answer that arrived at ``now``.

        :param seen: the answer's headers.
        :param now: when it arrived.
        :param limited: it was a 429, whose Reset is a wait (perhaps of another limit than the bucket's, such
            as an endpoint's own), not the countdown between two refills: it tells what is left, not how
            often requests come back.
        :param answered_since: this process's answers since the previous one observed, this one included.
        """
        if self.lowest_remaining is None or seen.remaining < self.lowest_remaining:
            self.lowest_remaining = seen.remaining
        if limited:
            self.limit = seen.limit
            self._remaining, self._seen_at = seen.remaining, now
            if now >= self._next_refill:
                self._next_refill = now + min(seen.reset_seconds, self.interval or seen.reset_seconds)
            return
        if self.limit is not None and now < self._next_refill and seen.remaining > self._remaining:
            # No refill since the previous answer, yet more is left: this answer left the server before the
            # previous one (concurrent requests). The lower count is the newer.
            seen = RateHeaders(seen.limit, self._remaining, seen.reset_seconds)
        if (
            self.limit is not None
            and now >= self._next_refill
            and self.interval > 0
            and seen.remaining < seen.limit
        ):
            # What came back across the refills in between, less what this process spent; others' spending
            # makes it an underestimate, never an overestimate.
            ticks = 1 + math.floor((now - self._next_refill) / self.interval)
            came_back = seen.remaining - self._remaining + answered_since
            if came_back > 0:
                self._refills.append(came_back / ticks)
        self.limit = seen.limit
        self._remaining = seen.remaining
        self._seen_at = now
        self._next_refill = now + seen.reset_seconds
        self.interval = max(self.interval, seen.reset_seconds)

    def _refills_by(self, when: float) -> int:
        """Refills counted on by ``when``: each a margin after it is due, as the server's tick and ours are
        not the same clock."""
        when -= REFILL_MARGIN_SECONDS
        if when < self._next_refill or self.interval <= 0:
            return 0
        return 1 + math.floor((when - self._next_refill) / self.interval)

    def remaining(self, now: float) -> float:
        """What the bucket holds at ``now`` as far as known (``inf`` before any answer), this process's
        calls in flight taken off and the refills since the last answer added.
        """
        if self.limit is None:
            return math.inf
        refilled = self._remaining + self._refills_by(now) * self.refill
        return min(refilled, self.limit) - self.in_flight

    def reserve_of(self, fraction: float) -> float:
        """The requests a reserve of ``fraction`` of the limit keeps (0 before any answer)."""
        return fraction * self.limit if self.limit is not None else 0.0

    def delay(self, now: float, reserve: float) -> float:
        """Seconds from ``now`` until one more request keeps Remaining at or above the reserve; 0 for now.

        :param now: the current time.
        :param reserve: the fraction of the limit kept for the customer's other integrations, 0 to 1.
        """
        if self.limit is None:
            return FIRST_ANSWER_WAIT_SECONDS if self.in_flight and not self.finished else 0.0
        missing = self.reserve_of(reserve) + 1 - self.remaining(now)
        if missing <= 0:
            return 0.0
        refills = max(1, math.ceil(missing / self.refill))
        interval = self.interval or 1.0
        first = self._next_refill + self._refills_by(now) * interval  # the next refill not counted yet
        return max(0.0, first + (refills - 1) * interval + REFILL_MARGIN_SECONDS - now)

    def spare(self, now: float, reserve: float) -> float:
        """Requests that can go now without taking Remaining below the reserve (may be below 0): before the
        first answer one, to learn the bucket; ``inf`` if answers carry no rate-limit headers."""
        if self.limit is None:
            return math.inf if self.finished else 1.0 - self.in_flight
        return self.remaining(now) - self.reserve_of(reserve)
