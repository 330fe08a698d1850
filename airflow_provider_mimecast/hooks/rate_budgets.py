"""The process-wide rate-limit budgets: one :class:`~airflow_provider_mimecast.rate_budget.RateBudget` per
API user, fed by the headers of every answer (sync and async calls, tokens, every poller) and asked before
every API call how long it must wait to leave the connection's ``rate_limit_reserve`` in the bucket.

An API user is known to the client by its credential: the client ID (API 2.0) or access key (API 1.0) at
one base URL. Two keys of one user have two budgets here, and still see each other's spending, as every
other process and integration's, in ``X-RateLimit-Remaining``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from airflow_provider_mimecast.errors import MimecastRateLimitError
from airflow_provider_mimecast.rate_budget import RateBudget, read_rate_headers
from airflow_provider_mimecast.settings import MimecastSettings

BudgetKey = tuple[str, str]


def budget_key(settings: MimecastSettings) -> BudgetKey:
    """Whose bucket a connection's calls spend: its base URL and client ID or access key."""
    return settings.base_url, settings.login


def reserve_exhausted(path: str, delay: float, settings: MimecastSettings) -> MimecastRateLimitError:
    """The error of a call not sent because waiting for the reserve would take longer than it may."""
    return MimecastRateLimitError(
        f"Mimecast {path} was not sent, to respect Mimecast's rate limit: the API user's bucket is down to the "
        f"{settings.rate_limit_reserve:g} of its limit kept for other integrations (the connection's "
        f"rate_limit_reserve extra), and a request comes back only in {delay:.1f} s, longer than this call may "
        f"wait (max_rate_limit_wait, {settings.max_rate_limit_wait:g} s, or none for a check before deferring). "
        "Let Airflow's retry or a rescheduling sensor try again later, or lower rate_limit_reserve",
        retry_after=delay,
        path=path,
    )


class RateBudgets:
    """Every API user's budget in this process; safe to use from threads and from the event loop (each
    method holds a lock for a few arithmetic operations only).

    :param clock: ``time.monotonic`` unless a test passes a fake one.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._budgets: dict[BudgetKey, RateBudget] = {}

    def budget(self, key: BudgetKey) -> RateBudget:
        """The budget itself (made if need be), for reports."""
        with self._lock:
            return self._budgets.setdefault(key, RateBudget())

    def locked(self) -> threading.Lock:
        """The lock to hold while reading a budget with :meth:`peek`."""
        return self._lock

    def peek(self, key: BudgetKey) -> RateBudget | None:
        """The budget of ``key`` if any answer made one; hold :meth:`locked` while reading it."""
        return self._budgets.get(key)

    def acquire(self, key: BudgetKey, reserve: float) -> float:
        """Take a place for one call now and return 0, or return the seconds to wait first (nothing taken).

        :param key: :func:`budget_key` of the call's settings.
        :param reserve: the connection's ``rate_limit_reserve``.
        """
        with self._lock:
            budget = self._budgets.setdefault(key, RateBudget())
            delay = budget.delay(self._clock(), reserve)
            if delay == 0:
                budget.in_flight += 1
            return delay

    def release(self, key: BudgetKey) -> None:
        """The call that :meth:`acquire` let through has ended (answered or failed)."""
        with self._lock:
            budget = self._budgets.get(key)
            if budget is not None:
                budget.in_flight = max(0, budget.in_flight - 1)
                budget.finished += 1

    def observe(self, key: BudgetKey, status: int, headers: Mapping[str, str]) -> None:
        """Learn from one answer; one without usable rate-limit headers teaches nothing.

        :param key: :func:`budget_key` of the call's settings.
        :param status: the answer's HTTP status (a 429's Reset is a wait, not the refill countdown).
        :param headers: its headers.
        """
        seen = read_rate_headers(headers)
        if seen is None:
            return
        with self._lock:
            budget = self._budgets.setdefault(key, RateBudget())
            budget.observe(seen, self._clock(), limited=status == 429)

    def clear(self) -> None:
        """Forget every budget (tests)."""
        with self._lock:
            self._budgets.clear()


#: The budgets of this process.
RATE_BUDGETS = RateBudgets()
