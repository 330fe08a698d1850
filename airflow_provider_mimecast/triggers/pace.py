"""The shared poller's side of the rate limit: the pacing decisions of :mod:`airflow_provider_mimecast.pacing`
applied to this process's budget of the connection's API user, the log line when the cadence changes, and
the poller's metrics through Airflow's own ``Stats`` (statsd or OpenTelemetry, as the deployment
configures them), tagged with the connection ID only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from airflow.providers.common.compat.sdk import Stats

from airflow_provider_mimecast.hooks.rate_budgets import RATE_BUDGETS, budget_key
from airflow_provider_mimecast.pacing import Cadence, Pending, cadence, choose
from airflow_provider_mimecast.rate_budget import RateBudget
from airflow_provider_mimecast.settings import MimecastSettings

W = TypeVar("W", bound=Pending)

#: The metrics, each tagged ``conn_id``: counters of requests and 429s, gauges of the bucket's latest
#: Remaining, the waits, and the seconds between two checks of one import.
METRIC_REQUESTS = "mimecast.poller.requests"
METRIC_RATE_LIMITED = "mimecast.poller.rate_limited"
METRIC_REMAINING = "mimecast.poller.rate_limit_remaining"
METRIC_WAITS = "mimecast.poller.waits"
METRIC_CHECK_INTERVAL = "mimecast.poller.check_interval_seconds"


class Pace:
    """The rate-limit pacing of one poller.

    :param conn_id: the poller's connection, the metrics' one tag.
    :param log: where the cadence is announced.
    """

    def __init__(self, conn_id: str, log: Any) -> None:
        self.conn_id = conn_id
        self.log = log
        self._tags = {"conn_id": conn_id}
        self._cadence: Cadence | None = None
        #: No round before this ``time.monotonic()`` while due waits wait for the refill.
        self.until = 0.0

    def choose(
        self, settings: MimecastSettings, due: Sequence[W], joining: Sequence[W], now: float
    ) -> tuple[list[W], int]:
        """The waits this round checks and how many requests carry last checks (see
        :func:`~airflow_provider_mimecast.pacing.choose`); when some due waits must wait for the refill,
        :attr:`until` says when the next round can go (never after a due wait's deadline).
        """
        key, reserve = budget_key(settings), settings.rate_limit_reserve
        with RATE_BUDGETS.locked():
            budget = RATE_BUDGETS.peek(key) or RateBudget()
            spare, delay = budget.spare(now, reserve), budget.delay(now, reserve)
        chosen, last_requests = choose(
            due, now, batch_size=settings.status_batch_size, spare=spare, joining=joining
        )
        taken = set(map(id, chosen))
        left = [w for w in due if id(w) not in taken]
        if left:
            self.until = min(now + max(delay, 0.05), min(w.deadline for w in left))
        return chosen, last_requests

    def defer_to(self, deadline: float) -> None:
        """A wait joined whose deadline comes before the next paced round."""
        self.until = min(self.until, deadline)

    def observe(self, settings: MimecastSettings, waits: Sequence[tuple[int, float]]) -> None:
        """Log the cadence when it changed, and report the gauges.

        :param settings: the connection's settings.
        :param waits: each registered wait's number of import IDs and poll interval.
        """
        with RATE_BUDGETS.locked():
            budget = RATE_BUDGETS.peek(budget_key(settings))
            rate = None if budget is None else budget.refill_rate
            remaining = None if budget is None else budget.last_remaining
        now = cadence(waits, batch_size=settings.status_batch_size, refill_rate=rate)
        if now.changed_from(self._cadence):
            self.log.info("Mimecast status polls of %s: %s", self.conn_id, now.describe())
        self._cadence = now
        Stats.gauge(METRIC_WAITS, len(waits), tags=self._tags)
        Stats.gauge(METRIC_CHECK_INTERVAL, now.check_every, tags=self._tags)
        if remaining is not None:
            Stats.gauge(METRIC_REMAINING, remaining, tags=self._tags)

    def sent(self, *, rate_limited: bool) -> None:
        """Count one status request, and whether Mimecast answered it 429."""
        Stats.incr(METRIC_REQUESTS, tags=self._tags)
        if rate_limited:
            Stats.incr(METRIC_RATE_LIMITED, tags=self._tags)
