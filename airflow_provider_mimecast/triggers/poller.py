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

from tenacity.wait import wait_exponential, wait_random

from airflow_provider_mimecast.errors import MimecastAuthenticationError, MimecastError
from airflow_provider_mimecast.hooks.retry import RATE_LIMIT_FLOOR, Backoff
from airflow_provider_mimecast.poll_schedule import (
    MAX_PROBE_BACKOFF_SECONDS,
    MIN_INTERVAL_SECONDS,
    PollSchedule,
    Report,
    Round,
    RoundOutcome,
    ScheduledWait,
)
from airflow_provider_mimecast.triggers.loop_health import freeze_startup_objects
from airflow_provider_mimecast.triggers.pace import Pace
from airflow_provider_mimecast.triggers.poller_connection import PollerConnection
from airflow_provider_mimecast.wait_outcome import Logger

#: Waits handed their report per event-loop iteration.
DELIVERY_SLICE = 50
#: Batch requests of one round that may be in flight at once.
MAX_CONCURRENT_REQUESTS = 4


@dataclass(eq=False)
class Wait(ScheduledWait):
    """A :class:`~airflow_provider_mimecast.poll_schedule.ScheduledWait` that its trigger awaits: the latest
    report for it, and the event that wakes the trigger."""

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
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Set once the loop has ended; the registry then hands out a new poller.
        self.stopped = False
        self._connection = PollerConnection(mimecast_conn_id, hook_params, log)
        probe = max(self._connection.new_hook().retry_delay, MIN_INTERVAL_SECONDS)
        self._schedule: PollSchedule[Wait] = PollSchedule(
            outage=Backoff(
                wait_exponential(multiplier=probe, max=MAX_PROBE_BACKOFF_SECONDS) + wait_random(0, probe)
            ),
            rate_limits=Backoff(RATE_LIMIT_FLOOR),
        )
        self._pace = Pace(mimecast_conn_id, log)
        self.loop = asyncio.get_running_loop()

    @property
    def problem(self) -> str | None:
        """Why the poller is backing off, or None while Mimecast answers."""
        return self._schedule.problem

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
        now = time.monotonic()
        wait = Wait(tuple(import_ids), interval, deadline)
        if self._schedule.add(wait, now):
            self._changed.set()  # the sleeping loop must wake earlier
        self._connection.new_wait(now)
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
            self._schedule.waits.discard(wait)
            if not self._schedule.waits:
                self._changed.set()  # the last wait left: stop now and close the client

    # ----------------------------------------------------------------- the loop
    async def _run(self) -> None:
        failure: MimecastError | None = None
        try:
            while self._schedule.waits:
                due_at = self._schedule.next_round_at()
                if not await self._sleep_until(due_at):
                    continue  # a wait joined or left: recompute the earliest due time
                round_ = self._schedule.round(due_at, time.monotonic())
                if round_ is not None:
                    await self._poll(round_)
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
            for wait in list(self._schedule.waits):
                wait.deliver(dict.fromkeys(wait.import_ids, failure))
            await self._connection.close()

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

    async def _poll(self, round_: Round[Wait]) -> None:
        now = time.monotonic()
        try:
            hook = await self._connection.current()
            settings = await hook.asettings()
        except MimecastError as error:  # the connection cannot be read, or is not valid
            for wait in round_.due:
                wait.next_due = math.inf
                wait.deliver(dict.fromkeys(wait.import_ids, error))
            return
        # Waits at their deadline first (their last check goes even while probing, and into the rate-limit
        # reserve), then the wait unchecked longest, waits whose last request failed after the others; as
        # many as the API user's bucket allows above the reserve. The others stay due, and go first next.
        due, last_requests = self._pace.choose(settings, round_.due, round_.joining, now)
        chosen = set(due)
        self._schedule.hold_for_refill(
            [w for w in round_.due if w not in chosen], now, self._pace.refill_delay
        )
        self._pace.observe(settings, [(len(w.import_ids), w.interval) for w in self._schedule.waits])
        if not due:
            return  # waiting for the refill: the schedule's paced_until says when
        batches = self._schedule.batches(due, now, settings.status_batch_size)
        answers = RoundOutcome()
        limit = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

        async def one(index: int, batch: list[str]) -> None:
            async with limit:
                if not answers.halted:
                    keep_reserve = index >= last_requests  # last checks may spend the reserve
                    answers.results.update(await self._poll_batch(batch, answers, keep_reserve))

        # Every batch ends before the round does, even when one raised (a bug): none is left running
        # on a client that is about to close.
        outcomes = await asyncio.gather(*(one(*b) for b in enumerate(batches)), return_exceptions=True)
        await self._connection.close_retired()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        self._after_round(answers)
        if answers.refused is not None:
            # Every wait of the connection, not only this round's: its requests would be refused too.
            due = [*due, *(w for w in self._schedule.waits if w not in chosen)]
        answered_at = time.monotonic()
        for count, wait in enumerate(due, start=1):
            if wait in self._schedule.waits:
                report = self._schedule.report(wait, answers, round_.round_at, answered_at)
                if report is not None:
                    wait.deliver(report)
            if count % DELIVERY_SLICE == 0:
                # Each delivery wakes a trigger; waking a thousand in one loop iteration would stall
                # every other trigger of the triggerer meanwhile.
                await asyncio.sleep(0)

    async def _poll_batch(self, batch: list[str], answers: RoundOutcome, keep_reserve: bool) -> Report:
        hook = self._connection.hook
        assert hook is not None
        try:
            try:
                return await self._pace.counted(hook.apoll_import_status(batch, keep_reserve=keep_reserve))
            except MimecastAuthenticationError:
                # Before failing anyone: the secret may have been rotated, or the host changed, since the
                # connection was last read. Fresh settings get one more try.
                await self._connection.read_once(answers)
                fresh = self._connection.hook
                if fresh is hook or fresh is None:
                    raise
                return await self._pace.counted(fresh.apoll_import_status(batch, keep_reserve=keep_reserve))
        except MimecastError as error:
            return answers.failed(batch, error)

    def _after_round(self, answers: RoundOutcome) -> None:
        """Log what the schedule decided after a round: a pause, a backoff, or full pace again."""
        backing, seconds = self._schedule.after_round(answers, time.monotonic())
        conn_id = self.mimecast_conn_id
        if backing == "rate_limited":
            self.log.warning(
                "Mimecast rate limit reached; pausing every status poll of %s for %.1f s", conn_id, seconds
            )
        elif backing == "outage":
            self.log.warning(
                "Mimecast status polls of %s failed (%s); waits keep waiting until their deadlines, "
                "probing again in %.1f s and backing off",
                conn_id,
                answers.transient,
                seconds,
            )
        elif backing == "recovered":
            self.log.info("Mimecast answers %s's status polls again", conn_id)


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
