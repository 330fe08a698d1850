"""The shared poller spends its API user's rate limit as Mimecast meters it: against the simulator's
refilling bucket over real HTTP, alone, beside a third client, and beside a poller in another process.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_mimecast.hooks.rate_budgets import RATE_BUDGETS
from airflow_provider_mimecast.testing.simulator import GET_IMPORT_STATUS_PATH, MimecastSimulator
from tests.conftest import CREDENTIALS, oauth_connection
from tests.triggers.test_poller import first_event

ACCOUNT = "/api/account/get-account"


def statuses(sim: MimecastSimulator) -> list[int]:
    return [r.response_status for r in sim.requests_to(GET_IMPORT_STATUS_PATH)]


def asked(sim: MimecastSimulator) -> Counter[str]:
    return Counter(
        item["id"] for r in sim.requests_to(GET_IMPORT_STATUS_PATH) for item in json.loads(r.body)["data"]
    )


def lowest_remaining() -> int | None:
    [budget] = RATE_BUDGETS._budgets.values()
    return budget.lowest_remaining


class ThirdClient:
    """The customer's own script, spending from the same API user's bucket."""

    def __init__(self, sim: MimecastSimulator) -> None:
        self.client = httpx.Client(base_url=sim.url, verify=False)
        form = {
            "grant_type": "client_credentials",
            "client_id": CREDENTIALS.client_id,
            "client_secret": CREDENTIALS.client_secret,
        }
        token = self.client.post("/oauth/token", data=form).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def spend(self, calls: int) -> list[int]:
        return [self.client.post(ACCOUNT, headers=self.headers).status_code for _ in range(calls)]


async def test_more_waits_than_the_refill_allows_are_checked_fairly_at_the_refill_rate(monkeypatch, trigger):
    # 200 waits every 0.05 s need 400 requests a second; the bucket gives back 20 a second.
    with MimecastSimulator(rate_limit=40, rate_refill=4, rate_reset_ms=200) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        ids = [sim.create_import(pending_seconds=2.5, processing_seconds=0) for _ in range(200)]
        started = time.monotonic()
        events = await asyncio.gather(*(first_event(trigger([i], poll=0.05, deadline=30)) for i in ids))
        elapsed = time.monotonic() - started
    assert {e["status"] for e in events} == {"success"}
    assert 429 not in statuses(sim)
    assert lowest_remaining() >= 8  # the reserve, 0.2 x 40, held
    # The budget is spent, not hoarded: after the 32 above the reserve, about 20 a second.
    sent = len(statuses(sim))
    assert sent <= 32 + elapsed * 20 * 1.1 + 5
    assert sent >= 32 + (elapsed - 1) * 20 * 0.6
    # Fairly: every import was checked, none much more often than another.
    counts = asked(sim)
    assert len(counts) == 200 and max(counts.values()) <= min(counts.values()) + 2


async def test_the_reserve_holds_against_a_third_client_and_a_last_check_still_goes(monkeypatch, trigger):
    with MimecastSimulator(rate_limit=20, rate_refill=1, rate_reset_ms=60_000) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        import_id = sim.create_import(pending_seconds=60)
        ThirdClient(sim).spend(15)  # 5 left: one above the reserve of 4
        event = await first_event(trigger([import_id], poll=0.1, deadline=1.5))
    assert event["status"] == "timeout"
    # The first check, then none while the bucket sat at the reserve, then the last check at the deadline,
    # spending one of the reserve rather than leaving the wait unchecked: 20 - 15 - 2 = 3, no 429.
    assert statuses(sim) == [200, 200]
    assert sim.rate_remaining() == 3


def _poller_process(sim: MimecastSimulator, ids: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "AIRFLOW_CONN_MIMECAST_DEFAULT": oauth_connection(sim.url)}
    script = Path(__file__).with_name("poller_process.py")
    return subprocess.Popen(
        [sys.executable, str(script), "0.05", "60", *ids],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.splitlines()[-1])


def test_two_pollers_in_two_processes_and_a_third_client_share_one_bucket():
    """No process tells another anything: each sees the others' spending in X-RateLimit-Remaining."""
    with MimecastSimulator(rate_limit=60, rate_refill=3, rate_reset_ms=200) as sim:
        ids = [sim.create_import(pending_seconds=6, processing_seconds=0) for _ in range(160)]
        first, second = _poller_process(sim, ids[:80]), _poller_process(sim, ids[80:])
        third = ThirdClient(sim)
        spent: list[int] = []
        give_up = time.monotonic() + 120
        while first.poll() is None or second.poll() is None:
            spent += third.spend(1)  # ~a request every 0.2 s
            time.sleep(0.2)
            assert time.monotonic() < give_up
        results = [_result(first), _result(second)]
    assert [r["statuses"] for r in results] == [["success"], ["success"]]
    status_answers = statuses(sim)
    # Each poller alone would keep 12 (0.2 x 60); together, and with the script spending, the bucket never
    # ran dry for the pollers once they had seen it, and the script kept being served.
    assert status_answers.count(429) <= 2, Counter(status_answers)
    assert min(r["lowest_remaining"] for r in results) >= 6
    assert spent.count(429) == 0


class RecordingStats:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float, dict[str, str]]] = []

    def incr(self, stat: str, count: int = 1, rate: float = 1, *, tags: dict[str, str]) -> None:
        self.calls.append(("incr", stat, count, tags))

    def gauge(
        self, stat: str, value: float, rate: float = 1, delta: bool = False, *, tags: dict[str, str]
    ) -> None:
        self.calls.append(("gauge", stat, value, tags))

    def total(self, stat: str) -> float:
        return sum(value for kind, name, value, _ in self.calls if kind == "incr" and name == stat)

    def last(self, stat: str) -> float:
        return [value for kind, name, value, _ in self.calls if kind == "gauge" and name == stat][-1]


async def test_the_poller_reports_through_airflows_stats_tagged_by_connection_only(monkeypatch, trigger):
    from airflow_provider_mimecast.testing.simulator import Fault
    from airflow_provider_mimecast.triggers import pace

    stats = RecordingStats()
    monkeypatch.setattr(pace, "Stats", stats)
    with MimecastSimulator(rate_limit=30, rate_refill=2, rate_reset_ms=100) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        ids = [sim.create_import(pending_seconds=0.5, processing_seconds=0) for _ in range(25)]
        sim.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=50))
        events = await asyncio.gather(*(first_event(trigger([i], poll=0.05, deadline=30)) for i in ids))
    assert {e["status"] for e in events} == {"success"}
    answered = statuses(sim)
    assert stats.total(pace.METRIC_REQUESTS) == len(answered)
    assert stats.total(pace.METRIC_RATE_LIMITED) == answered.count(429) == 1
    assert 0 <= stats.last(pace.METRIC_REMAINING) <= 30
    assert stats.last(pace.METRIC_WAITS) >= 1
    assert stats.last(pace.METRIC_CHECK_INTERVAL) >= 0.05
    # One tag, the connection: never an import ID (a metric series per import would swamp statsd).
    assert {tuple(sorted(tags.items())) for *_, tags in stats.calls} == {(("conn_id", "mimecast_default"),)}


async def test_the_first_poller_freezes_the_objects_of_start_up_out_of_garbage_collection(
    connections, trigger
):
    import gc

    from airflow_provider_mimecast.triggers import loop_health

    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    assert (await first_event(trigger([import_id])))["status"] == "success"
    # Full collections scanned every module-level object of the process: 110 ms stalls at 1,000 waits.
    assert loop_health._frozen and gc.get_freeze_count() > 0
    assert loop_health.freeze_startup_objects() is False  # once per process
