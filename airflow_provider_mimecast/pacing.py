"""How the shared poller spends its API user's rate limit: which waits a round checks, and how often each
import can be checked at the refill Mimecast gives. Pure, no I/O; times are ``time.monotonic()`` values.

The poller asks its :class:`~airflow_provider_mimecast.rate_budget.RateBudget` how many requests can go now
without taking ``X-RateLimit-Remaining`` below the reserve (``spare``). :func:`choose` fills that many
requests with the due waits, fairly: a wait at its deadline first (its last check goes even into the
reserve), then the wait unchecked longest, waits whose last request failed after the others. Waits left out
stay due and go first next time, so that when the waits need more requests than the refill leaves, each
is checked less often and none is starved. :func:`cadence` says how often that is, for the log and metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


class Pending(Protocol):
    """What :func:`choose` reads of a wait."""

    @property
    def import_ids(self) -> tuple[str, ...]: ...

    @property
    def deadline(self) -> float: ...

    @property
    def checked_at(self) -> float: ...

    @property
    def failed_at(self) -> float: ...


W = TypeVar("W", bound=Pending)


def fair_order(waits: Sequence[W], now: float) -> list[W]:
    """``waits`` in the order they get requests: at their deadline, then unchecked longest. A request that
    failed counts as a check for this order: its waits go after those unchecked since before it failed (one
    failing batch does not hold up the others), and before those checked since (they are not starved)."""
    return sorted(waits, key=lambda w: (w.deadline > now, max(w.checked_at, w.failed_at)))


def choose(
    due: Sequence[W], now: float, *, batch_size: int, spare: float, joining: Sequence[W] = ()
) -> tuple[list[W], int]:
    """The due waits a round checks within ``spare`` requests, and how many requests carry last checks.

    :param due: waits whose check is due.
    :param now: the current time.
    :param batch_size: most import IDs per request.
    :param spare: requests that can go now above the reserve (``inf`` while the bucket is not known yet).
    :param joining: waits not due yet that may ride along in the last request's free places.
    """
    chosen: list[W] = []
    ids: set[str] = set()
    ordered = fair_order(due, now)
    last = [w for w in ordered if w.deadline <= now]
    for wait in last:
        ids.update(wait.import_ids)
        chosen.append(wait)
    last_requests = math.ceil(len(ids) / batch_size)
    allowed = last_requests + max(0, math.floor(spare)) if math.isfinite(spare) else math.inf
    for wait in ordered[len(last) :]:
        new = set(wait.import_ids) - ids
        if math.ceil((len(ids) + len(new)) / batch_size) > allowed:
            continue  # a wait with fewer IDs may still fit
        ids |= new
        chosen.append(wait)
    room = math.ceil(len(ids) / batch_size) * batch_size - len(ids)
    for wait in joining:
        new = set(wait.import_ids) - ids
        if room >= len(new):
            room -= len(new)
            ids |= new
            chosen.append(wait)
    return chosen, last_requests


@dataclass(frozen=True)
class Cadence:
    """How often the waits of one poller can be checked at the rate Mimecast gives, per minute."""

    waits: int
    #: Requests a minute the waits would need at their own poll intervals.
    needed: float
    #: Requests a minute the refill gives this API user (the reserve is kept out of the bucket, not the
    #: refill); None before the refill is known.
    given: float | None
    #: Seconds between two checks of one import: its poll interval, or longer when the refill is short.
    check_every: float
    interval: float

    @property
    def paced(self) -> bool:
        return self.check_every > self.interval * 1.05

    def describe(self) -> str:
        """One log line: the need, the supply and the resulting check interval."""
        if self.given is None:
            return f"{self.waits:,} waits need {_per_minute(self.needed)}; Mimecast's refill is not known yet"
        every = _duration(self.check_every)
        head = f"{self.waits:,} waits need {_per_minute(self.needed)}; Mimecast gives this API user about "
        head += f"{_per_minute(self.given, unit=False)}"
        if self.paced:
            return f"{head}: each import is checked about every {every}"
        return f"{head}: each import is checked every {every}, its poll interval"

    def changed_from(self, other: Cadence | None) -> bool:
        """Worth a new log line: paced or not, or the check interval moved by a fifth or more."""
        if other is None or other.paced != self.paced or (other.given is None) != (self.given is None):
            return True
        return self.paced and abs(self.check_every - other.check_every) >= other.check_every / 5


def cadence(waits: Sequence[tuple[int, float]], *, batch_size: int, refill_rate: float | None) -> Cadence:
    """How often each import can be checked.

    :param waits: each wait's number of import IDs and poll interval in seconds.
    :param batch_size: most import IDs per request.
    :param refill_rate: requests per second the API user's bucket gets back; None if not known yet.
    """
    ids = sum(count for count, _ in waits)
    interval = min((seconds for _, seconds in waits), default=60.0)
    needed = sum(count / seconds for count, seconds in waits) / batch_size * 60
    given = None if refill_rate is None else refill_rate * 60
    check_every = interval
    if given is not None and given > 0 and needed > given:
        check_every = max(interval, math.ceil(ids / batch_size) / refill_rate)  # type: ignore[operator]
    return Cadence(len(waits), needed, given, check_every, interval)


def _per_minute(value: float, *, unit: bool = True) -> str:
    shown = f"{value:,.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{shown} requests a minute" if unit else shown


def _duration(seconds: float) -> str:
    if seconds >= 90:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
