"""The hook keeps the rate-limit reserve, against the simulator's per-user bucket over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from airflow_provider_mimecast.errors import MimecastRateLimitError
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.hooks.rate_budgets import RATE_BUDGETS, budget_key
from airflow_provider_mimecast.testing.simulator import MimecastSimulator
from tests.conftest import CREDENTIALS, oauth_connection

ACCOUNT = "/api/account/get-account"


def spend(sim: MimecastSimulator, calls: int) -> list[int]:
    """A third client of the same API user (the customer's own script) spends from the bucket."""
    with httpx.Client(base_url=sim.url, verify=False) as client:
        form = {
            "grant_type": "client_credentials",
            "client_id": CREDENTIALS.client_id,
            "client_secret": CREDENTIALS.client_secret,
        }
        token = client.post("/oauth/token", data=form).json()["access_token"]
        answers = [client.post(ACCOUNT, headers={"Authorization": f"Bearer {token}"}) for _ in range(calls)]
    return [a.status_code for a in answers]


def lowest_remaining(hook: MimecastHook) -> int | None:
    return RATE_BUDGETS.budget(budget_key(hook.settings)).lowest_remaining


@pytest.fixture
def bucket_sim() -> MimecastSimulator:
    with MimecastSimulator(rate_limit=50, rate_refill=5, rate_reset_ms=200) as sim:
        yield sim


def test_the_reserve_holds_against_a_third_client(bucket_sim, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(bucket_sim.url))
    assert spend(bucket_sim, 35) == [200] * 35  # 15 left
    hook = MimecastHook()
    for _ in range(20):
        hook.call(ACCOUNT, idempotent=True)
    # The first answer told the hook what was left; from then on it never went below the reserve of 0.2 x 50,
    # waiting for refills instead, and never met a 429.
    assert lowest_remaining(hook) == 10
    assert [r.response_status for r in bucket_sim.requests_to(ACCOUNT)].count(429) == 0
    assert spend(bucket_sim, 1) == [200]  # the other integrations still have their share


def test_a_reserve_of_0_spends_the_whole_bucket_without_a_429(monkeypatch):
    # A slow refill (1 a second): 52 calls empty the bucket of 50 however slowly a loaded machine sends them
    # (bucket_sim's 25 a second outran calls slower than 40 ms and never let it reach 0).
    with MimecastSimulator(rate_limit=50, rate_refill=1, rate_reset_ms=1000) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url, rate_limit_reserve=0))
        hook = MimecastHook()
        for _ in range(52):
            hook.call(ACCOUNT, idempotent=True)
        assert lowest_remaining(hook) == 0
        assert [r.response_status for r in sim.requests_to(ACCOUNT)].count(429) == 0


def test_a_tasks_call_fails_when_the_reserve_holds_longer_than_max_rate_limit_wait(monkeypatch):
    with MimecastSimulator(rate_limit=10, rate_refill=1, rate_reset_ms=60_000) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url, max_rate_limit_wait=1))
        spend(sim, 7)
        hook = MimecastHook()
        hook.call(ACCOUNT, idempotent=True)  # 2 left: the reserve
        started = time.monotonic()
        with pytest.raises(MimecastRateLimitError, match="rate_limit_reserve") as caught:
            hook.call(ACCOUNT, idempotent=True)
        assert time.monotonic() - started < 1  # no point sleeping for a refill a minute away
        assert caught.value.retry_after > 1
        assert "max_rate_limit_wait" in str(caught.value)
        assert len(sim.requests_to(ACCOUNT)) == 8  # not sent
        assert sim.rate_remaining() == 2


def test_a_tasks_call_waits_for_a_refill_within_max_rate_limit_wait(monkeypatch):
    with MimecastSimulator(rate_limit=10, rate_refill=1, rate_reset_ms=400) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url, rate_limit_reserve=0.5))
        hook = MimecastHook()
        started = time.monotonic()
        for _ in range(7):
            hook.call(ACCOUNT, idempotent=True)
        # Five go at once (10 -> 5, the reserve); each of the other two waits for a refill (one per 400 ms).
        assert 0.4 <= time.monotonic() - started < 3
        assert lowest_remaining(hook) == 5
        assert [r.response_status for r in sim.requests_to(ACCOUNT)] == [200] * 7


def test_a_check_before_deferring_does_not_wait_for_the_reserve(monkeypatch):
    with MimecastSimulator(rate_limit=10, rate_refill=1, rate_reset_ms=400) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        spend(sim, 7)
        hook = MimecastHook(retry_rate_limits=False)
        hook.call(ACCOUNT, idempotent=True)
        with pytest.raises(MimecastRateLimitError, match="rate_limit_reserve"):
            hook.call(ACCOUNT, idempotent=True)


async def test_async_calls_wait_for_the_reserve_without_blocking_the_loop(monkeypatch):
    import asyncio

    with MimecastSimulator(rate_limit=10, rate_refill=2, rate_reset_ms=300) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        hook = MimecastHook()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.create_task(ticker())
        started = time.monotonic()
        await asyncio.gather(*(hook.acall(ACCOUNT, idempotent=True) for _ in range(12)))
        elapsed = time.monotonic() - started
        beat.cancel()
        assert elapsed >= 0.3  # 8 at once, the other 4 after two refills
        assert ticks >= elapsed / 0.01 / 3  # the loop kept running meanwhile
        assert lowest_remaining(hook) >= 2
        assert [r.response_status for r in sim.requests_to(ACCOUNT)].count(429) == 0
