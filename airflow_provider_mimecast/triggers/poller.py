"""One shared status poller per connection in the triggerer's event loop.

Every deferred wait used to poll on its own: a thousand waits meant a thousand requests per interval,
a thousand sockets, and a triggerer loop too busy to serve anyone else's triggers. Here, waits for the
same connection (and hook settings) register their import IDs with one :class:`StatusPoller`, which
sends one get-import-status request per due batch over one keep-alive client and hands each wait the
statuses it asked for. Mimecast's limits are per account, so fewer requests also means fewer 429s for
the customer's other integrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import math
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mimecast.completion import Logger
from airflow_provider_mimecast.errors import (
    MimecastAuthenticationError,
    MimecastError,
    MimecastRateLimitError,
)
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.status import ImportStatus

#: How far ahead of its own schedule a wait may be polled to join a batch that goes now: a quarter of
#: its interval, at most this many seconds. Never later than its schedule.
MAX_JOIN_AHEAD_SECONDS = 5.0
#: A poll interval of 0 would poll in a busy loop; shorter ones are raised to this.
MIN_INTERVAL_SECONDS = 0.05
#: Waits that register within this window of each other share their first request.
GATHER_SECONDS = 0.05
#: Longest single pause after a 429, whatever X-RateLimit-Reset says: waiting here costs no worker,
#: and each wait's own deadline still applies.
MAX_RATE_LIMIT_PAUSE_SECONDS = 15 * 60.0
#: Waits handed their report per event-loop iteration.
DELIVERY_SLICE = 50
#: Batch requests of one round that may be in flight at once.
MAX_CONCURRENT_REQUESTS = 4

#: What a wait receives each round: every import ID it asked for, mapped to its status or its error.
Report = Mapping[str, "ImportStatus | MimecastError"]


@dataclass(eq=False)
class Wait:
    """One trigger's registration: its IDs, cadence and deadline, and the latest report for it."""

    import_ids: tuple[str, ...]
    interval: float
    deadline: float  # time.monotonic() at which the trigger makes its last check
    next_due: float
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

    def schedule_after(self, polled_at: float) -> None:
        # From the time the round was due, not from when its answer came: a fixed cadence, no drift.
        # A wait polled at its deadline is not polled again: its trigger fires and leaves.
        self.next_due = (
            math.inf if polled_at >= self.deadline else min(polled_at + self.interval, self.deadline)
        )

    def join_ahead(self) -> float:
        return min(self.interval / 4, MAX_JOIN_AHEAD_SECONDS)


class StatusPoller:
    """Polls get-import-status for every registered :class:`Wait` of one connection and hook settings.

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
        self._paused_until = 0.0
        #: Set once the loop has ended; the registry then hands out a new poller.
        self.stopped = False
        #: When the loop next polls (``inf`` while idle): new waits join that round.
        self._next_round = math.inf
        self._hook: MimecastHook | None = None
        self._session_cm: contextlib.AbstractAsyncContextManager[MimecastHook] | None = None
        self.loop = asyncio.get_running_loop()

    @property
    def waits(self) -> int:
        return len(self._waits)

    @contextlib.asynccontextmanager
    async def register(
        self, import_ids: Sequence[str], *, interval: float, deadline: float
    ) -> AsyncIterator[Wait]:
        """Register a wait for the block's duration; leaving the block (or being cancelled) deregisters it.

        :param import_ids: the IDs to report on.
        :param interval: seconds between two polls of this wait.
        :param deadline: ``time.monotonic()`` of the wait's last poll.
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
        wait = Wait(tuple(import_ids), interval, deadline, next_due=min(first, deadline))
        self._waits.add(wait)
        if wait.next_due < self._next_round:  # only then must the sleeping loop wake earlier
            self._next_round = wait.next_due
            self._changed.set()
        if self._task is None:
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
        try:
            while self._waits:
                due_at = max(min(w.next_due for w in self._waits), self._paused_until)
                self._next_round = due_at
                if not await self._sleep_until(due_at):
                    continue  # a wait joined or left: recompute the earliest due time
                now = time.monotonic()
                due = [w for w in self._waits if w.next_due <= now + w.join_ahead()]
                if not due:
                    continue
                # The round counts from when it was due, so waking a little late does not drift the
                # cadence; after a stall (a pause, slow retries) it restarts from now rather than bursting.
                round_at = due_at if now - due_at < min(w.interval for w in due) else now
                for wait in due:
                    wait.schedule_after(round_at)
                # Waits that register while this round is in flight join the next one.
                self._next_round = min(w.next_due for w in self._waits)
                await self._poll(due)
                # A round that outlasted its waits' interval (a rate-limit pause, slow retries) has just
                # brought fresh statuses: their next poll counts from its answer, not at once.
                answered_at = time.monotonic()
                for wait in due:
                    if wait.next_due < answered_at:
                        wait.schedule_after(answered_at)
        except Exception as error:  # never let a bug leave waits hanging until their deadline
            self.log.exception("The Mimecast status poller stopped")
            failure = (
                error
                if isinstance(error, MimecastError)
                else MimecastError(f"Status poller failed: {error!r}")
            )
            for wait in list(self._waits):
                wait.deliver(dict.fromkeys(wait.import_ids, failure))
        finally:
            # Leave the registry before awaiting anything: a trigger that starts from now on gets a
            # new poller instead of registering with one that has stopped polling.
            self.stopped = True
            if self._on_idle is not None:
                self._on_idle(self)
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

    async def _poll(self, due: list[Wait]) -> None:
        ids = list(dict.fromkeys(i for wait in due for i in wait.import_ids))
        hook = await self._session()
        size = (await hook.asettings()).status_batch_size
        batches = [ids[start : start + size] for start in range(0, len(ids), size)]
        results: dict[str, ImportStatus | MimecastError] = {}
        limit = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

        async def one(batch: list[str]) -> None:
            async with limit:
                results.update(await self._poll_batch(hook, batch))

        await asyncio.gather(*(one(batch) for batch in batches))
        if any(isinstance(r, MimecastAuthenticationError) for r in results.values()):
            # Read the connection again next round: the credentials may have been corrected meanwhile.
            await self._close_session()
        for count, wait in enumerate(due, start=1):
            if all(i in results for i in wait.import_ids):
                wait.deliver({i: results[i] for i in wait.import_ids})
            if count % DELIVERY_SLICE == 0:
                # Each delivery wakes a trigger; waking a thousand in one loop iteration would stall
                # every other trigger of the triggerer meanwhile.
                await asyncio.sleep(0)

    async def _poll_batch(self, hook: MimecastHook, batch: list[str]) -> Report:
        while True:
            try:
                return await hook.apoll_import_status(batch)
            except MimecastRateLimitError as limited:
                # One pause for everyone, not a retry per request: the account's quota is shared.
                pause = min(limited.retry_after, MAX_RATE_LIMIT_PAUSE_SECONDS)
                self._paused_until = max(self._paused_until, time.monotonic() + pause)
                self.log.warning(
                    "Mimecast rate limit reached; pausing every status poll of %s for %.1f s",
                    self.mimecast_conn_id,
                    pause,
                )
                await asyncio.sleep(max(self._paused_until - time.monotonic(), 0))
                if not any(i in w.import_ids for w in self._waits for i in batch):
                    return {}
            except MimecastError as error:
                return dict.fromkeys(batch, error)

    async def _session(self) -> MimecastHook:
        if self._hook is None:
            hook = MimecastHook(self.mimecast_conn_id, **self.hook_params)
            self._session_cm = hook.async_session()
            await self._session_cm.__aenter__()
            self._hook = hook
        return self._hook

    async def _close_session(self) -> None:
        session, self._hook, self._session_cm = self._session_cm, None, None
        if session is not None:
            await session.__aexit__(None, None, None)


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

    def pollers(self) -> Iterable[StatusPoller]:
        """The live pollers; those of an event loop that has closed are dropped."""
        for key, poller in list(self._pollers.items()):
            if poller.loop.is_closed():
                del self._pollers[key]
        return list(self._pollers.values())


POLLERS = PollerRegistry()
