"""Which failures are retried, and how long to wait: tenacity settings for one API call, and the
backoff that the triggerer's shared poller keeps across its rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential, wait_random

from airflow_provider_mimecast.errors import MimecastRateLimitError, is_transient, may_have_been_sent
from airflow_provider_mimecast.hooks.calls import Call

#: Longest wait between two retries of a server error or dropped connection.
MAX_BACKOFF_SECONDS = 60.0
#: The least wait after a 429, whatever ``X-RateLimit-Reset`` says: a reset of 0 (or none at all) would
#: otherwise re-send at once. Doubled for each consecutive 429 (of one call, or of one poller until it is
#: answered again), up to :data:`MAX_RATE_LIMIT_FLOOR_SECONDS`.
RATE_LIMIT_FLOOR_SECONDS = 0.25
MAX_RATE_LIMIT_FLOOR_SECONDS = 60.0
RATE_LIMIT_FLOOR = wait_exponential(multiplier=RATE_LIMIT_FLOOR_SECONDS, max=MAX_RATE_LIMIT_FLOOR_SECONDS)


class Backoff:
    """Counts consecutive failures and gives the wait each one earns under a tenacity wait strategy.

    :param wait: e.g. ``wait_exponential(multiplier=1, max=60)``; it is asked as if for the n-th attempt.
    """

    def __init__(self, wait: Callable[[RetryCallState], float]) -> None:
        self._wait = wait
        self.failures = 0

    def failed(self) -> float:
        """Count one more failure; the seconds to wait before trying again."""
        self.failures += 1
        state = RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})
        state.attempt_number = self.failures
        return float(self._wait(state))

    def reset(self) -> None:
        self.failures = 0


class _stop_on_long_rate_limit(stop_base):
    """Stop when Mimecast asks for a longer wait than the caller may sleep."""

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        return isinstance(error, MimecastRateLimitError) and error.retry_after > self.max_wait


def retry_policy(
    call: Call,
    *,
    retries: int,
    retry_delay: float,
    log: Any,
    retry_rate_limits: bool = True,
    max_rate_limit_wait: float = math.inf,
) -> dict[str, Any]:
    """Keyword arguments for tenacity's ``Retrying`` / ``AsyncRetrying``.

    :param call: the call being made; one that is not idempotent (an upload) is retried only when it was
        never sent.
    :param retries: retries after the first attempt.
    :param retry_delay: first backoff in seconds for server errors and dropped connections.
    :param log: where each retry is announced.
    :param retry_rate_limits: False when the caller handles 429 itself (the shared poller pauses once
        for all its waits instead of retrying each request).
    :param max_rate_limit_wait: the longest sleep for one 429; a longer ``X-RateLimit-Reset`` raises
        at once, so that a worker is not held for hours and Airflow's retry or reschedule takes over.
    """
    backoff = wait_exponential(multiplier=retry_delay, max=MAX_BACKOFF_SECONDS) + wait_random(0, retry_delay)
    rate_limits = Backoff(RATE_LIMIT_FLOOR)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, MimecastRateLimitError):
            # Mimecast did not execute the call; it asks us to wait at least until the reset, and a reset of
            # 0 still waits the growing floor. Never longer than a task may sleep on one 429.
            return min(max(error.retry_after, rate_limits.failed()), max_rate_limit_wait)
        return float(backoff(state))

    def retryable(error: BaseException) -> bool:
        if isinstance(error, MimecastRateLimitError):
            return retry_rate_limits
        # A call that never left (its token request failed, or its connection) is safe to send again; one
        # that may have reached Mimecast only when it is idempotent. Fetching a token again is always safe.
        return is_transient(error) and (call.idempotent or not may_have_been_sent(error, path=call.path))

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0
        log.warning(
            "Mimecast %s failed (%s); retry %d of %d in %.1f s",
            call.path,
            error,
            state.attempt_number,
            retries,
            sleep,
        )

    def give_up(state: RetryCallState) -> Any:
        error = state.outcome.exception() if state.outcome else None
        assert error is not None  # only failed attempts are retried
        # A 429 (http_status set) longer than a task may sleep; a call held back for the rate-limit reserve
        # was never sent and already says so.
        if (
            isinstance(error, MimecastRateLimitError)
            and error.http_status is not None
            and error.retry_after > max_rate_limit_wait
        ):
            again = datetime.now(timezone.utc) + timedelta(seconds=error.retry_after)
            too_late = MimecastRateLimitError(
                f"Mimecast's rate limit for {call.path} resets in {error.retry_after:.0f} s (about "
                f"{again:%H:%M:%S} UTC), longer than the {max_rate_limit_wait:g} s a task may sleep "
                "(the connection's max_rate_limit_wait extra); the call was not executed. Let Airflow's "
                "retry (retry_delay) or a rescheduling sensor try again after that time",
                retry_after=error.retry_after,
                failures=error.failures,
                status_code=error.http_status,
                request_id=error.request_id,
                path=call.path,
            )
            raise too_late from error
        raise error

    return {
        "stop": stop_after_attempt(retries + 1) | _stop_on_long_rate_limit(max_rate_limit_wait),
        "wait": wait,
        "retry": retry_if_exception(retryable),
        "before_sleep": log_retry,
        "retry_error_callback": give_up,
    }
