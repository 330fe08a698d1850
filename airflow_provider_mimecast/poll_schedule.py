"""When the shared status poller checks each wait: every decision of its loop, pure (no I/O, no asyncio, no
clock of its own: each decision takes ``now``, a ``time.monotonic()`` value).

A :class:`PollSchedule` holds the registered waits and their due times: when a new wait is first checked (the
join rule), when a round goes and which waits it carries (:meth:`~PollSchedule.next_round_at`,
:meth:`~PollSchedule.round`), in which requests (:meth:`~PollSchedule.batches`), when a wait is checked next
(:meth:`ScheduledWait.checked`), what a wait hears of a round (:meth:`~PollSchedule.report`), and the pause
or probe after a round that failed (:meth:`~PollSchedule.after_round`). Which due waits fit the rate limit is
:mod:`airflow_provider_mimecast.pacing`'s. The loop that sends and wakes: ``triggers/poller.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from airflow_provider_mimecast.errors import (
    MimecastAuthenticationError,
    MimecastError,
    MimecastRateLimitError,
    is_transient,
)
from airflow_provider_mimecast.status import ImportStatus

#: How far ahead of its own schedule a wait may be polled to join a batch that goes now: a quarter of
#: its interval, at most this many seconds. Never later than its schedule.
MAX_JOIN_AHEAD_SECONDS = 5.0
#: A poll interval of 0 would poll in a busy loop; shorter ones are raised to this. Also the least wait
#: between two probes of an outage, whatever ``retry_delay`` says.
MIN_INTERVAL_SECONDS = 0.05
#: Waits that register within this window of each other share their first request.
GATHER_SECONDS = 0.05
#: Longest single pause after a 429, whatever X-RateLimit-Reset says: waiting here costs no worker,
#: and each wait's own deadline still applies.
MAX_RATE_LIMIT_PAUSE_SECONDS = 15 * 60.0
#: While Mimecast is unreachable or failing, the poller sends one probe batch at a time, backing off from
#: the hook's ``retry_delay`` up to about this long: short, so that its return is seen within seconds, and
#: one request per probe, not one per wait.
MAX_PROBE_BACKOFF_SECONDS = 5.0
#: The least wait for the rate limit's refill before a round the budget held back is tried again.
MIN_REFILL_WAIT_SECONDS = 0.05

#: What a wait receives: each import ID it asked for, mapped to its status or to the error of its last check.
#: An error that :func:`~airflow_provider_mimecast.errors.is_transient` calls transient means "not seen
#: this time"; any other ends the wait.
Report = Mapping[str, "ImportStatus | MimecastError"]


@dataclass(eq=False)
class ScheduledWait:
    """One trigger's registration as the schedule sees it: its IDs, cadence, deadline and due time."""

    import_ids: tuple[str, ...]
    interval: float
    deadline: float  # the time of the trigger's last check
    next_due: float = math.inf
    #: Why its last check saw no (complete) answer, for a timeout message; None once all were seen.
    problem: str | None = None
    #: When a request carrying its IDs last failed: such waits go to the back of the next round.
    failed_at: float = -math.inf
    #: When it was last checked (registered, at first): the wait unchecked longest goes first.
    checked_at: float = -math.inf

    def checked(self, round_at: float, answered_at: float) -> bool:
        """Schedule the next check after one that was due at ``round_at`` and answered at ``answered_at``;
        True when that was the last (the deadline has come), so the trigger fires and leaves.
        """
        self.checked_at = answered_at
        if answered_at >= self.deadline:
            self.next_due = math.inf
            return True
        # From the time the round was due, not from when its answer came: a fixed cadence, no drift. A round
        # that outlasted the interval (a pause, a slow answer) counts from its answer instead of at once.
        start = round_at if round_at + self.interval >= answered_at else answered_at
        self.next_due = min(start + self.interval, self.deadline)
        return False

    def join_ahead(self) -> float:
        """How long before its own due time this wait may ride along with a round that goes now."""
        return min(self.interval / 4, MAX_JOIN_AHEAD_SECONDS)


W = TypeVar("W", bound=ScheduledWait)


class Backoff(Protocol):
    """Consecutive failures and the wait each earns (``hooks/retry.py``'s ``Backoff``, or a test's)."""

    failures: int

    def failed(self) -> float: ...

    def reset(self) -> None: ...


@dataclass
class RoundOutcome:
    """What one round's requests came back with."""

    results: dict[str, ImportStatus | MimecastError] = field(default_factory=dict)
    #: IDs whose whole request failed transiently: their waits were not checked, and stay due.
    unchecked: set[str] = field(default_factory=set)
    rate_limited: MimecastRateLimitError | None = None
    transient: MimecastError | None = None
    #: Credentials refused even after reading the connection again: every wait of the round fails.
    refused: MimecastAuthenticationError | None = None

    @property
    def halted(self) -> bool:
        # After a transient failure the round's remaining batches are not sent: during an outage each would
        # only fail too (a black-holed host, one timeout each), and waits that join must not queue behind them.
        return self.rate_limited is not None or self.transient is not None or self.refused is not None

    def failed(self, batch: Sequence[str], error: MimecastError) -> Report:
        """Record a request that failed as a whole, and return its IDs' report (the caller merges it into
        :attr:`results`). A 429, refused credentials or a transient failure leaves them unchecked and
        halts the round; any other error is their answer."""
        if isinstance(error, MimecastRateLimitError):
            self.rate_limited = error
        elif isinstance(error, MimecastAuthenticationError):
            self.refused = error
        elif is_transient(error):
            self.transient = error
        else:
            return dict.fromkeys(batch, error)
        self.unchecked.update(batch)
        return dict.fromkeys(batch, error)


@dataclass(frozen=True)
class Round(Generic[W]):
    """The waits one round checks: those due, and those close enough to due to ride along."""

    due: list[W]
    joining: list[W]
    #: When the round was due; the waits' next checks count from it.
    round_at: float


#: What :meth:`PollSchedule.after_round` decided, for the log: paused for a 429, held for the refill, the
#: first failure of an outage, a later one, back to full pace after failures, or nothing new.
Backing = Literal["rate_limited", "refill", "outage", "outage_again", "recovered", "steady"]


class PollSchedule(Generic[W]):
    """The waits of one poller and when each is checked.

    :param outage: the probe backoff while Mimecast fails transiently.
    :param rate_limits: the least pause after consecutive 429s.
    """

    def __init__(self, *, outage: Backoff, rate_limits: Backoff) -> None:
        self.waits: set[W] = set()
        self.outage = outage
        self.rate_limits = rate_limits
        #: When the loop next polls (``inf`` while idle): new waits join that round.
        self.next_round = math.inf
        #: No request before this (a rate-limit pause, or the next probe of an outage).
        self.retry_at = 0.0
        #: No round before this while due waits wait for the rate limit's refill.
        self.paced_until = 0.0
        #: Why the poller is backing off, or None while Mimecast answers.
        self.problem: str | None = None

    @property
    def probing(self) -> bool:
        return bool(self.outage.failures or self.rate_limits.failures)

    def add(self, wait: W, now: float) -> bool:
        """Register ``wait`` and set its first check; True when the loop must wake earlier for it."""
        wait.interval = max(wait.interval, MIN_INTERVAL_SECONDS)
        # A new wait joins the next round already due within its interval rather than starting a cadence
        # of its own, so waits stay in one batch. That is never late: the sensor checked just before
        # deferring.
        upcoming = self.next_round
        first = max(upcoming, now) if upcoming <= now + wait.interval else now + GATHER_SECONDS
        wait.next_due, wait.checked_at = min(first, wait.deadline), now
        self.waits.add(wait)
        self.paced_until = min(self.paced_until, wait.deadline)  # its last check is not held for the refill
        if wait.next_due < self.next_round:
            self.next_round = wait.next_due
            return True
        return False

    def next_round_at(self) -> float:
        """When the next round goes: the earliest due wait, unless a pause or the refill holds it."""
        self.next_round = max(min(w.next_due for w in self.waits), self.retry_at, self.paced_until)
        return self.next_round

    def round(self, due_at: float, now: float) -> Round[W] | None:
        """The round that goes at ``now`` (woken for ``due_at``), or None if no wait is due after all."""
        due = [w for w in self.waits if w.next_due <= now]
        joining = [w for w in self.waits if now < w.next_due <= now + w.join_ahead()]
        if not due:
            if not joining:
                return None
            due, joining = joining, []  # woken early for a joiner: it goes as it always did
        # The round counts from when it was due, so waking a little late does not drift the cadence; after
        # a stall (a pause, an outage) it restarts from now rather than bursting.
        round_at = due_at if now - due_at < min(w.interval for w in due) else now
        # Waits that register while this round is in flight join the next one.
        self.next_round = max(round_at + min(w.interval for w in due), self.retry_at)
        return Round(due, joining, round_at)

    def hold_for_refill(self, left: Iterable[ScheduledWait], now: float, refill_delay: float) -> None:
        """Due waits the rate limit left out go when the bucket has refilled, never after their deadline."""
        deadlines = [w.deadline for w in left]
        if deadlines:
            self.paced_until = min(now + max(refill_delay, MIN_REFILL_WAIT_SECONDS), min(deadlines))

    def batches(self, due: Sequence[ScheduledWait], now: float, batch_size: int) -> list[list[str]]:
        """The requests that carry ``due``'s IDs: all of them, or while probing an outage, only the first
        (and as many more as the waits at their deadline need)."""
        ids = list(dict.fromkeys(i for wait in due for i in wait.import_ids))
        batches = [ids[start : start + batch_size] for start in range(0, len(ids), batch_size)]
        if self.probing:
            last_checks = len({i for wait in due if wait.deadline <= now for i in wait.import_ids})
            batches = batches[: max(1, math.ceil(last_checks / batch_size))]
        return batches

    def after_round(self, outcome: RoundOutcome, now: float) -> tuple[Backing, float]:
        """Pause after a 429, back off after a transient failure, or resume at full pace once answered.

        :return: what was decided, and the seconds until the next request it set.
        """
        limited = outcome.rate_limited
        if limited is not None and limited.http_status is None:
            # Held back before sending, for the reserve (another caller in this process spent meanwhile):
            # wait for the refill, without the 429's growing floor.
            self.paced_until = max(self.paced_until, now + limited.retry_after)
            return "refill", limited.retry_after
        if limited is not None:
            # One pause for everyone, not a retry per request: the account's quota is shared. Never less
            # than a floor that grows with each consecutive 429, whatever X-RateLimit-Reset says.
            pause = min(max(limited.retry_after, self.rate_limits.failed()), MAX_RATE_LIMIT_PAUSE_SECONDS)
            self.retry_at = max(self.retry_at, now + pause)
            self.problem = str(limited)
            return "rate_limited", pause
        if outcome.transient is not None:
            delay = self.outage.failed()
            self.retry_at = now + delay
            self.problem = str(outcome.transient)
            return ("outage" if self.outage.failures == 1 else "outage_again"), delay
        if outcome.refused is not None:
            return "steady", 0.0
        recovered = bool(self.outage.failures)
        self.outage.reset()
        self.rate_limits.reset()
        self.retry_at, self.problem = 0.0, None
        return ("recovered" if recovered else "steady"), 0.0

    def report(
        self, wait: ScheduledWait, outcome: RoundOutcome, round_at: float, answered_at: float
    ) -> Report | None:
        """What ``wait`` hears of a round, and its next check; None leaves it waiting (due again, or at its
        next check) without waking it."""
        results = outcome.results
        failed = [i for i in wait.import_ids if i in outcome.unchecked or i not in results]
        if outcome.refused is not None and failed:
            # The credentials are the connection's: had its request gone, it would have been refused too.
            wait.next_due = math.inf
            return dict.fromkeys(wait.import_ids, outcome.refused)
        if not all(i in results for i in wait.import_ids):
            return None  # not sent this round (an outage's probe carried others): still due
        failed = [i for i in wait.import_ids if i in outcome.unchecked]
        if failed:
            wait.failed_at = answered_at
            wait.problem = str(results[failed[0]])
            if answered_at < wait.deadline:
                return None  # the request failed: still due, for the next probe
        report = {i: results[i] for i in wait.import_ids}
        last = wait.checked(round_at, answered_at)
        unseen = [i for i, r in report.items() if isinstance(r, MimecastError) and is_transient(r)]
        wait.problem = "; ".join(dict.fromkeys(str(report[i]) for i in unseen)) or None
        # A wait hears only what changes something: a status for each ID, an error that ends it, or its
        # last check. An ID Mimecast did not answer this time is simply asked again next round.
        ends = any(isinstance(r, MimecastError) and not is_transient(r) for r in report.values())
        return report if last or ends or not unseen else None
