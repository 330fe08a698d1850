"""Which failures are retried, and how long to wait: tenacity settings for one API call."""

from __future__ import annotations

from typing import Any

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential, wait_random

from airflow_provider_mimecast.errors import (
    MimecastRateLimitError,
    MimecastServerError,
    MimecastTransportError,
)
from airflow_provider_mimecast.hooks.exchange import TOKEN_PATH, Call

#: Longest wait between two retries of a server error or dropped connection.
MAX_BACKOFF_SECONDS = 60.0


def retry_policy(
    call: Call,
    *,
    retries: int,
    retry_delay: float,
    log: Any,
    retry_rate_limits: bool = True,
) -> dict[str, Any]:
    """Keyword arguments for tenacity's ``Retrying`` / ``AsyncRetrying``.

    :param call: the call being made; uploads (not idempotent) are retried only when never sent.
    :param retries: retries after the first attempt.
    :param retry_delay: first backoff in seconds for server errors and dropped connections.
    :param log: where each retry is announced.
    :param retry_rate_limits: False when the caller handles 429 itself (the shared poller pauses once
        for all its waits instead of retrying each request).
    """
    backoff = wait_exponential(multiplier=retry_delay, max=MAX_BACKOFF_SECONDS) + wait_random(0, retry_delay)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, MimecastRateLimitError):
            # Mimecast did not execute the call; it asks us to wait at least until the reset.
            return error.retry_after
        return float(backoff(state))

    def retryable(error: BaseException) -> bool:
        if isinstance(error, MimecastRateLimitError):
            return retry_rate_limits
        # Fetching a token is always safe to repeat, whatever the call it is for.
        idempotent = call.idempotent or getattr(error, "path", None) == TOKEN_PATH
        if isinstance(error, MimecastTransportError):
            return error.transient and (idempotent or not error.request_sent)
        return idempotent and isinstance(error, MimecastServerError)

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

    return {
        "stop": stop_after_attempt(retries + 1),
        "wait": wait,
        "retry": retry_if_exception(retryable),
        "before_sleep": log_retry,
        "reraise": True,
    }
