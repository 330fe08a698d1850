"""The shared poller's side of the rate limit: the pacing decisions of :mod:`airflow_provider_mimecast.pacing`
applied to this process's budget of the connection's API user, the log line when the cadence changes, and
the poller's metrics through Airflow's own ``Stats`` (statsd or OpenTelemetry, as the deployment
configures them), tagged with the connection ID only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from airflow.providers.common.compat.sdk import Stats

from airflow_provider_mimecast.errors import MimecastError, MimecastRateLimitError
from airflow_provider_mimecast.hooks.rate_budgets import RATE_BUDGETS, budget_key
from airflow_provider_mimecast.pacing import Cadence, Pending, cadence, choose
from airflow_provider_mimecast.poll_schedule import Report
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
        #: Seconds until the bucket has room above the reserve again, as of the last :meth:`choose`.
        self.refill_delay = 0.0

    def choose(
        self, settings: MimecastSettings, due: Sequence[W], joining: Sequence[W], now: float
    ) -> tuple[list[W], int]:
        """The waits this round checks and how many requests carry last checks (see
        :func:`~airflow_provider_mimecast.pacing.choose`); :attr:`refill_delay` says how long until the
        bucket has room again, for the due waits left out.
        """
        key, reserve = budget_key(settings), settings.rate_limit_reserve
        with RATE_BUDGETS.locked():
            budget = RATE_BUDGETS.peek(key) or RateBudget()
            spare, self.refill_delay = budget.spare(now, reserve), budget.delay(now, reserve)
        return choose(due, now, batch_size=settings.status_batch_size, spare=spare, joining=joining)

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

    async def counted(self, request: Awaitable[Report]) -> Report:
        """Await one status request, counting it (and its 429) unless the reserve held it back unsent."""
        try:
            result = await request
        except MimecastRateLimitError as error:
            if error.http_status is not None:  # not one held back for the reserve: it was sent
                self.sent(rate_limited=True)
            raise
        except MimecastError:
            self.sent(rate_limited=False)
            raise
        self.sent(rate_limited=False)
        return result
