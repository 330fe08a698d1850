"""Which failures are retried and how long to wait, without a network."""

from __future__ import annotations

import logging

from tenacity import RetryCallState, Retrying

from airflow_provider_mimecast.endpoints import GET_IMPORT_STATUS
from airflow_provider_mimecast.errors import MimecastRateLimitError
from airflow_provider_mimecast.hooks.calls import Call
from airflow_provider_mimecast.hooks.retry import RATE_LIMIT_FLOOR, Backoff, retry_policy


def test_a_backoff_grows_with_each_failure_and_starts_over():
    floor = Backoff(RATE_LIMIT_FLOOR)
    assert [floor.failed() for _ in range(10)] == [0.25, 0.5, 1, 2, 4, 8, 16, 32, 60, 60]
    floor.reset()
    assert floor.failed() == 0.25


def _waits_after(errors: list[BaseException], **policy) -> list[float]:
    """The sleeps a policy asks for after each of ``errors`` in turn, as tenacity would ask."""
    wait = retry_policy(
        Call(GET_IMPORT_STATUS.path), retries=10, retry_delay=1, log=logging.getLogger(__name__), **policy
    )["wait"]
    state = RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})
    sleeps = []
    for number, error in enumerate(errors, start=1):
        state.attempt_number = number
        state.set_exception((type(error), error, None))
        sleeps.append(wait(state))
    return sleeps


def test_a_429_waits_at_least_a_growing_floor_whatever_its_reset_says():
    limited = [MimecastRateLimitError("429", retry_after=0) for _ in range(4)]
    assert _waits_after(limited) == [0.25, 0.5, 1, 2]
    assert _waits_after([MimecastRateLimitError("429", retry_after=3)]) == [3]  # a longer reset wins
    assert _waits_after(limited, max_rate_limit_wait=0.6) == [0.25, 0.5, 0.6, 0.6]  # a task's own cap
