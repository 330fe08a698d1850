"""One shared status poller per connection in the triggerer's event loop.

Waits for the same connection (and hook settings) register their import IDs with one :class:`StatusPoller`,
which sends one get-import-status request per due batch over one keep-alive client and hands each wait the
statuses it asked for. What it does: docs/waiting.rst ("One shared poller per connection", "Failures in the
triggerer"); why: docs/design.md ("One poller per connection in the triggerer").
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from tenacity.wait import wait_exponential, wait_random

from airflow_provider_mimecast.errors import (
    MimecastAuthenticationError,
    MimecastConfigurationError,
    MimecastError,
    MimecastRateLimitError,
    is_transient,
)
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.hooks.retry import RATE_LIMIT_FLOOR, Backoff
from airflow_provider_mimecast.settings import MimecastSettings
from airflow_provider_mimecast.status import ImportStatus
from airflow_provider_mimecast.triggers.loop_health import freeze_startup_objects
from airflow_provider_mimecast.triggers.pace import Pace
from airflow_provider_mimecast.wait_outcome import Logger

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
#: How often, at most, a poller reads its connection again, so that a rotated secret or a changed host takes
#: effect in a long-lived triggerer. It is also read again before waits fail on refused credentials.
CONNECTION_REFRESH_SECONDS = 60.0
#: A wait that registers with a poller whose copy of the connection is older than this has it read again
#: (once, however many register together) before its first check: it sees the connection as it is now.
NEW_WAIT_CONNECTION_AGE_SECONDS = 5.0
#: Waits handed their report per event-loop iteration.
DELIVERY_SLICE = 50
#: Batch requests of one round that may be in flight at once.
MAX_CONCURRENT_REQUESTS = 4

#: What a wait receives: each import ID it asked for, mapped to its status or to the error of its last check.
#: An error that :func:`~airflow_provider_mimecast.errors.is_transient` calls transient means "not seen
#: this time"; any other ends the wait.
Report = Mapping[str, "ImportStatus | MimecastError"]


@dataclass(eq=False)
class Wait:
    """One trigger's registration: its IDs, cadence and deadline, and the latest report for it."""

    import_ids: tuple[str, ...]
    interval: float
    deadline: float  # time.monotonic() at which the trigger makes its last check
    next_due: float
    #: Why its last check saw no (complete) answer, for a timeout message; None once all were seen.
    problem: str | None = None
    #: When a request carrying its IDs last failed: such waits go to the back of the next round.
    failed_at: float = -math.inf
    #: When it was last checked (registered, at first): the wait unchecked longest goes first.
    checked_at: float = -math.inf
    _report: Report | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver(self, report: Report) -> None:
        self._report = report
        self._ready.set()

    async def next_report(self, give_up_at: float) -> Report | None:
        """The next report (a newer one replaces an unread older one), or None at ``give_up_at``
        (``time.monotonic()``) if none came.
        """
        # A timer sets the same event rather than asyncio.wait_for, which before Python 3.12 can swallow
        # a cancellation that arrives as the report does: a cleared task would then keep waiting.
        timer = asyncio.get_running_loop().call_later(max(give_up_at - time.monotonic(), 0), self._ready.set)
        try:
            await self._ready.wait()
        finally:
            timer.cancel()
        self._ready.clear()
        report, self._report = self._report, None
        return report

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
        return min(self.interval / 4, MAX_JOIN_AHEAD_SECONDS)


@dataclass
class _Round:
    """What one round's requests came back with."""

    results: dict[str, ImportStatus | MimecastError] = field(default_factory=dict)
    #: IDs whose whole request failed transiently: their waits were not checked, and stay due.
    unchecked: set[str] = field(default_factory=set)
    rate_limited: MimecastRateLimitError | None = None
    transient: MimecastError | None = None
    #: Credentials refused even after reading the connection again: every wait of the round fails.
    refused: MimecastAuthenticationError | None = None
    connection_read: bool = False

    @property
    def halted(self) -> bool:
        # After a transient failure the round's remaining batches are not sent: during an outage each would
        # only fail too (a black-holed host, one timeout each), and waits that join must not queue behind them.
        return self.rate_limited is not None or self.transient is not None or self.refused is not None


class StatusPoller:
    """Polls get-import-status for every registered :class:`Wait` of one connection and hook settings.

    Transient failures (connection errors, timeouts, 5xx, 429, retryable ``fail`` entries) keep waits
    waiting until their own deadlines, probing on a backoff; definitive ones end the waits they concern.

    :param mimecast_conn_id: the ``mimecast`` connection.
    :param hook_params: keyword arguments for :class:`MimecastHook`.
    :param on_idle: called once when the poller stops (its last wait left, or it failed).
    """

    def __init__(
        self,
        mimecast_conn_id: str,
        hook_params: Mapping[str, Any],
        *,
        log: Logger,
        on_idle: Any = None,
    ) -> None:
        self.mimecast_conn_id = mimecast_conn_id
        self.hook_params = dict(hook_params)
        self.log = log
        self._on_idle = on_idle
        self._waits: set[Wait] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Set once the loop has ended; the registry then hands out a new poller.
        self.stopped = False
        #: When the loop next polls (``inf`` while idle): new waits join that round.
        self._next_round = math.inf
        self._hook: MimecastHook | None = None
        self._session_cm: contextlib.AbstractAsyncContextManager[MimecastHook] | None = None
        self._connection_read_at = -math.inf
        #: A wait registered while the connection read was stale: read it before the next round.
        self._read_before_next_round = False
        self._reading = asyncio.Lock()
        #: Clients of connection settings that changed, closed once the round using them is over.
        self._retired: list[contextlib.AbstractAsyncContextManager[MimecastHook]] = []
        probe = max(self._new_hook().retry_delay, MIN_INTERVAL_SECONDS)
        self._outage = Backoff(
            wait_exponential(multiplier=probe, max=MAX_PROBE_BACKOFF_SECONDS) + wait_random(0, probe)
        )
        self._rate_limits = Backoff(RATE_LIMIT_FLOOR)
        self._pace = Pace(mimecast_conn_id, log)
        #: No request before this ``time.monotonic()`` (a rate-limit pause, or the next probe of an outage).
        self._retry_at = 0.0
        #: Why the poller is backing off, or None while Mimecast answers.
        self.problem: str | None = None
        self.loop = asyncio.get_running_loop()

    @property
    def _probing(self) -> bool:
        return bool(self._outage.failures or self._rate_limits.failures)

    @contextlib.asynccontextmanager
    async def register(
        self, import_ids: Sequence[str], *, interval: float, deadline: float
    ) -> AsyncIterator[Wait]:
        """Register a wait for the block's duration; leaving the block (or being cancelled) deregisters it.

        :param import_ids: the IDs to report on.
        :param interval: seconds between two polls of this wait.
        :param deadline: ``time.monotonic()`` of the wait's last poll; one already past is polled at once.
        """
        if self.stopped:  # the registry never hands out a stopped poller; this guards the invariant
            raise MimecastError(f"The status poller of {self.mimecast_conn_id!r} has stopped")
        interval = max(interval, MIN_INTERVAL_SECONDS)
        now = time.monotonic()
        # A new wait joins the next round already due within its interval rather than starting a cadence
        # of its own, so waits stay in one batch. That is never late: the sensor checked just before
        # deferring.
        upcoming = self._next_round
        first = max(upcoming, now) if upcoming <= now + interval else now + GATHER_SECONDS
        wait = Wait(tuple(import_ids), interval, deadline, next_due=min(first, deadline), checked_at=now)
        self._waits.add(wait)
        self._pace.defer_to(deadline)
        if now - self._connection_read_at > NEW_WAIT_CONNECTION_AGE_SECONDS:
            self._read_before_next_round = True
        if wait.next_due < self._next_round:  # only then must the sleeping loop wake earlier
            self._next_round = wait.next_due
            self._changed.set()
        if self._task is None:
            freeze_startup_objects()  # full garbage collections were the loop's longest stall (loop_health.py)
            # In a context of its own, not a copy of the trigger's that happens to start it: Airflow 3's
            # triggerer files log lines by context variables, so the poller's warnings would otherwise
            # land in that one task's log and, once it left, in the triggerer's log tagged with its ID.
            self._task = contextvars.Context().run(
                asyncio.get_running_loop().create_task,
                self._run(),
                name=f"mimecast-status-poller[{self.mimecast_conn_id}]",
            )
        try:
            yield wait
        finally:
            self._waits.discard(wait)
            if not self._waits:
                self._changed.set()  # the last wait left: stop now and close the client

    # ----------------------------------------------------------------- the loop
    async def _run(self) -> None:
        failure: MimecastError | None = None
        try:
            while self._waits:
                due_at = max(min(w.next_due for w in self._waits), self._retry_at, self._pace.until)
                self._next_round = due_at
                if not await self._sleep_until(due_at):
                    continue  # a wait joined or left: recompute the earliest due time
                now = time.monotonic()
                due = [w for w in self._waits if w.next_due <= now]
                joining = [w for w in self._waits if now < w.next_due <= now + w.join_ahead()]
                if not due:
                    if not joining:
                        continue
                    due, joining = joining, []  # woken early for a joiner: it goes as it always did
                # The round counts from when it was due, so waking a little late does not drift the
                # cadence; after a stall (a pause, an outage) it restarts from now rather than bursting.
                round_at = due_at if now - due_at < min(w.interval for w in due) else now
                # Waits that register while this round is in flight join the next one.
                self._next_round = max(round_at + min(w.interval for w in due), self._retry_at)
                await self._poll(due, joining, round_at)
        except Exception as error:  # never let a bug leave waits hanging until their deadline
            self.log.exception("The Mimecast status poller stopped")
            failure = (
                error
                if isinstance(error, MimecastError)
                else MimecastError(f"Status poller failed: {error!r}")
            )
        finally:
            # Leave the registry before awaiting anything: a trigger that starts from now on gets a
            # new poller instead of registering with one that has stopped polling.
            self.stopped = True
            if self._on_idle is not None:
                self._on_idle(self)
            # Waits still here (the poller failed, or its task was cancelled) hear so now, not at their deadline.
            failure = failure or MimecastError(f"The status poller of {self.mimecast_conn_id!r} stopped")
            for wait in list(self._waits):
                wait.deliver(dict.fromkeys(wait.import_ids, failure))
            await self._close_session()

    async def _sleep_until(self, when: float) -> bool:
        """Sleep until ``when``; False if a wait joined or left first."""
        self._changed.clear()
        delay = when - time.monotonic()
        if delay <= 0:
            return True
        # A timer rather than asyncio.wait_for, which can swallow the triggerer's cancellation.
        timer = None if math.isinf(delay) else asyncio.get_running_loop().call_later(delay, self._changed.set)
        try:
            await self._changed.wait()
        finally:
            if timer is not None:
                timer.cancel()
        return time.monotonic() >= when

    async def _poll(self, due: list[Wait], joining: list[Wait], round_at: float) -> None:
        now = time.monotonic()
        try:
            hook = await self._current_hook()
            settings = await hook.asettings()
        except MimecastError as error:  # the connection cannot be read, or is not valid
            for wait in due:
                wait.next_due = math.inf
                wait.deliver(dict.fromkeys(wait.import_ids, error))
            return
        size = settings.status_batch_size
        # Waits at their deadline first (their last check goes even while probing, and into the rate-limit
        # reserve), then the wait unchecked longest, waits whose last request failed after the others; as
        # many as the API user's bucket allows above the reserve. The others stay due, and go first next.
        due, last_requests = self._pace.choose(settings, due, joining, now)
        self._pace.observe(settings, [(len(w.import_ids), w.interval) for w in self._waits])
        if not due:
            return  # waiting for the refill: Pace.until says when
        ids = list(dict.fromkeys(i for wait in due for i in wait.import_ids))
        batches = [ids[start : start + size] for start in range(0, len(ids), size)]
        if self._probing:
            # One batch finds out whether Mimecast is back; the waits at their deadline are checked too.
            last_checks = len({i for wait in due if wait.deadline <= now for i in wait.import_ids})
            batches = batches[: max(1, math.ceil(last_checks / size))]
        answers = _Round()
        limit = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

        async def one(index: int, batch: list[str]) -> None:
            async with limit:
                if not answers.halted:
                    keep_reserve = index >= last_requests  # last checks may spend the reserve
                    answers.results.update(await self._poll_batch(batch, answers, keep_reserve))

        # Every batch ends before the round does, even when one raised (a bug): none is left running
        # on a client that is about to close.
        outcomes = await asyncio.gather(*(one(*b) for b in enumerate(batches)), return_exceptions=True)
        await self._close_retired()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        self._after_round(answers)
        if answers.refused is not None:
            # Every wait of the connection, not only this round's: its requests would be refused too.
            polled = set(due)
            due = [*due, *(w for w in self._waits if w not in polled)]
        answered_at = time.monotonic()
        for count, wait in enumerate(due, start=1):
            if wait in self._waits:
                self._report(wait, answers, round_at, answered_at)
            if count % DELIVERY_SLICE == 0:
                # Each delivery wakes a trigger; waking a thousand in one loop iteration would stall
                # every other trigger of the triggerer meanwhile.
                await asyncio.sleep(0)

    def _report(self, wait: Wait, answers: _Round, round_at: float, answered_at: float) -> None:
        """Hand ``wait`` what its check found, or leave it due for the next probe."""
        results = answers.results
        failed = [i for i in wait.import_ids if i in answers.unchecked or i not in results]
        if answers.refused is not None and failed:
            # The credentials are the connection's: had its request gone, it would have been refused too.
            wait.next_due = math.inf
            wait.deliver(dict.fromkeys(wait.import_ids, answers.refused))
            return
        if not all(i in results for i in wait.import_ids):
            return  # not sent this round (an outage's probe carried others): still due
        failed = [i for i in wait.import_ids if i in answers.unchecked]
        if failed:
            wait.failed_at = answered_at
            wait.problem = str(results[failed[0]])
            if answered_at < wait.deadline:
                return  # the request failed: still due, for the next probe
        report = {i: results[i] for i in wait.import_ids}
        last = wait.checked(round_at, answered_at)
        unseen = [i for i, r in report.items() if isinstance(r, MimecastError) and is_transient(r)]
        wait.problem = "; ".join(dict.fromkeys(str(report[i]) for i in unseen)) or None
        # A wait hears only what changes something: a status for each ID, an error that ends it, or its
        # last check. An ID Mimecast did not answer this time is simply asked again next round.
        ends = any(isinstance(r, MimecastError) and not is_transient(r) for r in report.values())
        if last or ends or not unseen:
            wait.deliver(report)

    async def _poll_batch(self, batch: list[str], answers: _Round, keep_reserve: bool) -> Report:
        hook = self._hook
        assert hook is not None
        try:
            try:
                return await self._counted(hook.apoll_import_status(batch, keep_reserve=keep_reserve))
            except MimecastAuthenticationError:
                # Before failing anyone: the secret may have been rotated, or the host changed, since the
                # connection was last read. Fresh settings get one more try.
                await self._read_connection_once(answers)
                if self._hook is hook or self._hook is None:
                    raise
                return await self._counted(self._hook.apoll_import_status(batch, keep_reserve=keep_reserve))
        except MimecastError as error:
            if isinstance(error, MimecastRateLimitError):
                answers.rate_limited = error
            elif isinstance(error, MimecastAuthenticationError):
                answers.refused = error
            elif is_transient(error):
                answers.transient = error
            else:
                return dict.fromkeys(batch, error)
            answers.unchecked.update(batch)
            return dict.fromkeys(batch, error)

    async def _counted(self, request: Any) -> Report:
        try:
            result: Report = await request
        except MimecastRateLimitError as error:
            if error.http_status is not None:  # not one held back for the reserve: it was sent
                self._pace.sent(rate_limited=True)
            raise
        except MimecastError:
            self._pace.sent(rate_limited=False)
            raise
        self._pace.sent(rate_limited=False)
        return result

    def _after_round(self, answers: _Round) -> None:
        """Pause after a 429, back off after a transient failure, or resume at full pace once answered."""
        now = time.monotonic()
        if answers.rate_limited is not None and answers.rate_limited.http_status is None:
            # Held back before sending, for the reserve (another caller in this process spent meanwhile):
            # wait for the refill, without the 429's growing floor.
            self._pace.until = max(self._pace.until, now + answers.rate_limited.retry_after)
        elif answers.rate_limited is not None:
            limited = answers.rate_limited
            # One pause for everyone, not a retry per request: the account's quota is shared. Never less
            # than a floor that grows with each consecutive 429, whatever X-RateLimit-Reset says.
            pause = min(max(limited.retry_after, self._rate_limits.failed()), MAX_RATE_LIMIT_PAUSE_SECONDS)
            self._retry_at = max(self._retry_at, now + pause)
            self.problem = str(limited)
            self.log.warning(
                "Mimecast rate limit reached; pausing every status poll of %s for %.1f s",
                self.mimecast_conn_id,
                pause,
            )
        elif answers.transient is not None:
            delay = self._outage.failed()
            self._retry_at = now + delay
            if self._outage.failures == 1:
                self.log.warning(
                    "Mimecast status polls of %s failed (%s); waits keep waiting until their deadlines, "
                    "probing again in %.1f s and backing off",
                    self.mimecast_conn_id,
                    answers.transient,
                    delay,
                )
            self.problem = str(answers.transient)
        elif answers.refused is None:
            if self._outage.failures:
                self.log.info("Mimecast answers %s's status polls again", self.mimecast_conn_id)
            self._outage.reset()
            self._rate_limits.reset()
            self._retry_at = 0.0
            self.problem = None

    # ----------------------------------------------------------------- the connection and its client
    def _new_hook(self) -> MimecastHook:
        # The poller retries itself, across rounds and until each wait's deadline: the hook's own retries
        # would hold a whole round (and every wait that joins meanwhile) for its retry budget.
        return MimecastHook(self.mimecast_conn_id, **{**self.hook_params, "max_retries": 0})

    async def _current_hook(self) -> MimecastHook:
        stale = self._read_before_next_round
        self._read_before_next_round = False
        if self._hook is None:
            await self._open(self._new_hook())
        elif stale or time.monotonic() - self._connection_read_at >= CONNECTION_REFRESH_SECONDS:
            await self._read_connection()
        assert self._hook is not None
        return self._hook

    async def _open(self, hook: MimecastHook) -> None:
        session = hook.async_session()
        try:
            await session.__aenter__()
        except MimecastError:
            raise
        except Exception as error:  # a connection that does not exist, a secrets backend that fails
            raise MimecastConfigurationError(
                f"Cannot read the Mimecast connection {self.mimecast_conn_id!r}: {type(error).__name__}: "
                f"{str(error)[:300]}"
            ) from error
        self._connection_read_at = time.monotonic()
        self._hook, self._session_cm = hook, session

    async def _read_connection_once(self, answers: _Round) -> None:
        async with self._reading:  # concurrent batches of a round read it once between them
            if not answers.connection_read:
                answers.connection_read = True
                await self._read_connection()

    async def _read_connection(self) -> None:
        """Read the connection again (without blocking the loop); poll with a new client if it changed."""
        self._connection_read_at = time.monotonic()
        try:
            conn = await get_async_connection(self.mimecast_conn_id)
            fresh = MimecastSettings.from_connection_fields(
                host=conn.host,
                login=conn.login,
                password=conn.password,
                extra=await get_async_extra_dejson(conn),
            )
        except Exception as error:  # keep polling with what worked: a failed read is not a changed connection
            self.log.warning(
                "Could not read the Mimecast connection %r again (%s); keeping its current settings",
                self.mimecast_conn_id,
                error if isinstance(error, MimecastError) else type(error).__name__,
            )
            return
        current = self._hook
        if current is not None and fresh == await current.asettings():
            return
        old = self._session_cm
        try:
            await self._open(self._new_hook())
        except MimecastError as error:
            self.log.warning(
                "The Mimecast connection %r changed but cannot be used (%s); keeping its previous settings",
                self.mimecast_conn_id,
                error,
            )
            return
        self.log.info(
            "The Mimecast connection %r changed; polling with its new settings", self.mimecast_conn_id
        )
        if old is not None:
            # Requests of this round may still be in flight on the old client: it closes after the round.
            self._retired.append(old)

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for session in retired:
            await session.__aexit__(None, None, None)

    async def _close_session(self) -> None:
        session, self._hook, self._session_cm = self._session_cm, None, None
        if session is not None:
            self._retired.append(session)
        await self._close_retired()


def _params_key(hook_params: Mapping[str, Any]) -> str:
    return json.dumps(hook_params, sort_keys=True, default=str)


class PollerRegistry:
    """The pollers of each event loop, keyed by connection ID and hook settings."""

    def __init__(self) -> None:
        self._pollers: dict[tuple[int, str, str], StatusPoller] = {}

    def poller(self, mimecast_conn_id: str, hook_params: Mapping[str, Any], *, log: Logger) -> StatusPoller:
        loop = asyncio.get_running_loop()
        key = (id(loop), mimecast_conn_id, _params_key(hook_params))
        poller = self._pollers.get(key)
        if poller is None or poller.loop is not loop or poller.stopped:
            poller = StatusPoller(
                mimecast_conn_id, hook_params, log=log, on_idle=lambda p: self._forget(key, p)
            )
            self._pollers[key] = poller
        return poller

    def _forget(self, key: tuple[int, str, str], poller: StatusPoller) -> None:
        if self._pollers.get(key) is poller:
            del self._pollers[key]


POLLERS = PollerRegistry()
