"""The shared status poller, against the simulator over real HTTP.

Counts are taken at the simulator (what the server saw), never inferred from timing.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import logging
import time
from typing import Any

import pytest

from airflow_provider_mimecast.poll_schedule import MAX_PROBE_BACKOFF_SECONDS
from airflow_provider_mimecast.testing.simulator import (
    GET_IMPORT_STATUS_PATH,
    TOKEN_PATH,
    Fault,
    MimecastSimulator,
)
from airflow_provider_mimecast.triggers import poller_connection
from airflow_provider_mimecast.triggers.import_status import MimecastImportStatusTrigger
from airflow_provider_mimecast.triggers.poller import MAX_CONCURRENT_REQUESTS, PollerRegistry, StatusPoller
from tests.conftest import with_secret
from tests.triggers.conftest import FAST


class RecordingRegistry(PollerRegistry):
    """A fresh registry for one test that remembers every poller it handed out."""

    def __init__(self) -> None:
        super().__init__()
        self.handed_out: list[StatusPoller] = []

        #: Pollers that had stopped when they were handed out (the registry must never do so).
        self.stopped_when_handed_out: list[StatusPoller] = []

    def poller(self, *args: Any, **kwargs: Any) -> StatusPoller:
        poller = super().poller(*args, **kwargs)
        if poller.stopped:
            self.stopped_when_handed_out.append(poller)
        if poller not in self.handed_out:
            self.handed_out.append(poller)
        return poller

    def running(self) -> list[StatusPoller]:
        return [p for p in self.handed_out if not p.stopped]


@pytest.fixture(autouse=True)
def pollers(monkeypatch: pytest.MonkeyPatch) -> RecordingRegistry:
    """The registry the triggers of this test register with, instead of the process-wide one."""
    from airflow_provider_mimecast.triggers import import_status

    registry = RecordingRegistry()
    monkeypatch.setattr(import_status, "POLLERS", registry)
    return registry


async def first_event(t: MimecastImportStatusTrigger) -> dict[str, Any]:
    """Run a trigger to its first event, as the triggerer (and dag.test()) does, then close it."""
    events = t.run()
    try:
        return (await anext(events)).payload
    finally:
        await events.aclose()


def ids_per_status_request(sim: MimecastSimulator) -> list[list[str]]:
    return [
        [item["id"] for item in json.loads(r.body)["data"]] for r in sim.requests_to(GET_IMPORT_STATUS_PATH)
    ]


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_many_waits_cost_one_token_and_few_batched_requests(connections, pollers, trigger):
    ids = [connections.create_import(pending_seconds=0.3, processing_seconds=0.3) for _ in range(250)]
    events = await asyncio.gather(*(first_event(trigger([i])) for i in ids))
    assert [e["status"] for e in events] == ["success"] * 250
    assert [e["statuses"][0]["id"] for e in events] == ids
    assert connections.request_counts()[TOKEN_PATH] == 1
    sizes = connections.status_request_sizes()
    # ~0.6 s to complete at a 0.2 s cadence: a few rounds of ceil(250 / 10) = 25 requests each.
    assert max(sizes) == 10 and sum(sizes) >= 250
    assert len(sizes) <= 25 * 6, sizes
    assert connections.connections_accepted <= 1 + 4  # the token, then one keep-alive client (4 in flight)
    await until(lambda: not pollers.running())  # the poller stops once its last wait left


async def test_a_bad_id_fails_only_the_waits_that_hold_it(connections, trigger):
    good = [connections.create_import(pending_seconds=0, processing_seconds=0.2) for _ in range(3)]
    bad_wait, *good_waits = await asyncio.gather(
        first_event(trigger(["no-such-import", good[0]])),
        *(first_event(trigger([i])) for i in good),
    )
    assert bad_wait["status"] == "error" and "'no-such-import' err_import_not_found" in bad_wait["message"]
    assert good[0] not in bad_wait["message"]
    assert [w["status"] for w in good_waits] == ["success"] * 3
    assert len(ids_per_status_request(connections)[0]) == 4  # one request carried every ID


async def test_an_id_shared_by_two_waits_is_asked_once_per_round(connections, trigger):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    one, two = await asyncio.gather(first_event(trigger([import_id])), first_event(trigger([import_id])))
    assert one["status"] == two["status"] == "success"
    assert ids_per_status_request(connections) == [[import_id]]


async def test_waits_keep_their_own_poll_intervals(connections, pollers, trigger):
    slow_id = connections.create_import(pending_seconds=100)
    fast_id = connections.create_import(pending_seconds=1.0, processing_seconds=0)
    slow = asyncio.create_task(first_event(trigger([slow_id], poll=5)))
    fast = await first_event(trigger([fast_id], poll=0.1))
    assert fast["status"] == "success"
    batches = ids_per_status_request(connections)
    assert sum(fast_id in b for b in batches) >= 8  # ~1 s at 0.1 s
    assert sum(slow_id in b for b in batches) == 1  # only its first check; its next is due at 5 s
    slow.cancel()
    await until(lambda: not pollers.running())


async def test_waits_join_and_leave_while_the_poller_runs(connections, pollers, trigger):
    first = connections.create_import(pending_seconds=100)
    second = connections.create_import(pending_seconds=0.3, processing_seconds=0)
    waiting = asyncio.create_task(first_event(trigger([first], poll=0.1)))
    await until(lambda: len(ids_per_status_request(connections)) >= 2)
    [poller] = pollers.running()
    joined = await first_event(trigger([second], poll=0.1))
    assert joined["status"] == "success"
    assert any(set(b) == {first, second} for b in ids_per_status_request(connections))
    await until(lambda: ids_per_status_request(connections)[-1] == [first])  # the finished wait left
    waiting.cancel()  # a task cleared or marked while deferred
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await until(lambda: not pollers.running())
    seen = len(ids_per_status_request(connections))
    await asyncio.sleep(0.3)
    assert len(ids_per_status_request(connections)) == seen  # nothing polls once every wait left
    assert poller._connection.hook is None  # its client was closed


async def test_a_rate_limit_pauses_the_poller_once_for_every_wait(connections, trigger):
    ids = [connections.create_import(pending_seconds=0, processing_seconds=0) for _ in range(10)]
    connections.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=400))
    started = time.monotonic()
    events = await asyncio.gather(*(first_event(trigger([i], poll=0.1)) for i in ids))
    assert [e["status"] for e in events] == ["success"] * 10
    answers = [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)]
    assert answers == [429, 200]  # one pause for all ten, then one request for all of them
    assert time.monotonic() - started >= 0.4


async def test_the_round_after_a_rate_limit_pause_keeps_the_cadence(connections, pollers):
    # Seen in a real triggerer: the batch retried after the pause was followed at once (~5 ms) by another
    # request for the same IDs, because their next poll had come due during the pause.
    ids = [connections.create_import(pending_seconds=600) for _ in range(5)]
    connections.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=1000))
    poller = pollers.poller("mimecast_default", FAST, log=logging.getLogger(__name__))
    arrivals = []
    async with poller.register(ids, interval=0.5, deadline=time.monotonic() + 30) as wait:
        while len(arrivals) < 2:
            assert await wait.next_report(give_up_at=time.monotonic() + 10) is not None
            arrivals.append(time.monotonic())
    answers = [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)]
    assert answers[:3] == [429, 200, 200]
    assert arrivals[1] - arrivals[0] >= 0.3  # one interval (less a join-ahead), not a second request at once


#: Stands in for the context variables by which Airflow 3's triggerer files each trigger's log lines.
TRIGGER_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("trigger_id", default=None)


async def test_the_poller_logs_in_no_triggers_context(connections, pollers):
    # Seen in a real triggerer: the poller inherited the context of the trigger that started it, so its
    # rate-limit warning went to that one task's log and, after that task was marked failed, to the
    # triggerer's log tagged with the departed task's ID.
    seen: list[int | None] = []

    class Recorder:
        def warning(self, *args: Any) -> None:
            seen.append(TRIGGER_ID.get())

        info = exception = warning

    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=10))

    async def one_trigger() -> None:
        TRIGGER_ID.set(1)
        poller = pollers.poller("mimecast_default", FAST, log=Recorder())
        async with poller.register([import_id], interval=0.1, deadline=time.monotonic() + 10) as wait:
            report = await wait.next_report(give_up_at=time.monotonic() + 10)
        assert report is not None and report[import_id].status == "completed"

    await asyncio.create_task(one_trigger())
    assert [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)] == [429, 200]
    # The cadence and the rate-limit warning, both logged outside the trigger's context.
    assert len(seen) == 2 and set(seen) == {None}


async def test_an_authentication_failure_reaches_every_wait(simulator, monkeypatch, trigger):
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", with_secret(simulator.url, "wrong-secret-value"))
    ids = [simulator.create_import() for _ in range(5)]
    events = await asyncio.gather(*(first_event(trigger([i])) for i in ids))
    assert [e["status"] for e in events] == ["error"] * 5
    assert all("authentication failed" in e["message"] for e in events)
    assert len(simulator.requests_to(TOKEN_PATH)) == 1  # the failure was shared, not repeated per wait
    assert not simulator.requests_to(GET_IMPORT_STATUS_PATH)


async def test_a_trigger_never_crashes(monkeypatch, trigger):
    monkeypatch.delenv("AIRFLOW_CONN_MIMECAST_DEFAULT", raising=False)
    event = await first_event(trigger(["some-id"]))
    assert event["status"] == "error"
    assert "mimecast_default" in event["message"]


async def test_the_deadline_holds_when_no_report_comes(connections, monkeypatch, pollers, trigger):
    from airflow_provider_mimecast.triggers import import_status

    monkeypatch.setattr(import_status, "REPORT_GRACE_SECONDS", 0.5)
    import_id = connections.create_import(pending_seconds=100)
    connections.inject(Fault("latency", path=GET_IMPORT_STATUS_PATH, delay=1.5))
    started = time.monotonic()
    event = await first_event(trigger([import_id], deadline=0.3, hook={"timeout": 10}))
    assert event["status"] == "timeout" and "no answer from Mimecast" in event["message"]
    assert time.monotonic() - started < 1.4  # before the 1.5 s answer: the trigger did not wait for it
    await until(lambda: not pollers.running())


async def test_a_zero_poll_interval_does_not_spin(connections, trigger):
    import_id = connections.create_import(pending_seconds=0.5, processing_seconds=0)
    event = await first_event(trigger([import_id], poll=0))
    assert event["status"] == "success"
    assert connections.request_counts()[GET_IMPORT_STATUS_PATH] <= 0.5 / 0.05 + 3


async def test_back_to_back_triggers_never_register_with_a_stopped_poller(connections, pollers, trigger):
    for _ in range(5):
        import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
        # Each starts while the previous poller may still be closing its client.
        assert (await first_event(trigger([import_id])))["status"] == "success"
    assert pollers.stopped_when_handed_out == []
    await until(lambda: not pollers.running())


async def test_the_poller_keeps_its_connection_across_rounds_longer_apart_than_httpx_default(
    connections, trigger
):
    import_id = connections.create_import(pending_seconds=5.3, processing_seconds=0)
    event = await first_event(trigger([import_id], poll=5.5))  # polls at 0 and 5.5 s; httpx keeps 5 s
    assert event["status"] == "success"
    assert connections.request_counts()[GET_IMPORT_STATUS_PATH] == 2
    assert connections.connections_accepted == 1


# ----------------------------------------------------------------- connection changes (issue 14.3)
@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The connection IDs the poller reads again (its hooks' first reads are their own), in order."""
    seen: list[str] = []
    original = poller_connection.get_async_connection

    async def counting(conn_id: str) -> Any:
        seen.append(conn_id)
        return await original(conn_id)

    monkeypatch.setattr(poller_connection, "get_async_connection", counting)
    return seen


async def test_a_rotated_secret_takes_effect_in_a_running_poller(connections, monkeypatch, pollers, trigger):
    keeper = connections.create_import(pending_seconds=600)
    waiting = asyncio.create_task(first_event(trigger([keeper], poll=0.1, deadline=120)))
    await until(lambda: len(ids_per_status_request(connections)) >= 2)
    [poller] = pollers.running()
    # The secret is rotated in Mimecast and in the connection; the old secret's tokens lapse (here at once,
    # in real life within 30 minutes), so the poller's next token request is refused.
    connections.set_credentials(
        dataclasses.replace(connections.credentials, client_secret="rotated-secret-1")
    )
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", connections.airflow_connection())
    connections.forget_tokens()
    fresh = connections.create_import(pending_seconds=0, processing_seconds=0)
    event = await first_event(trigger([fresh], poll=0.1))
    assert event["status"] == "success"
    assert not waiting.done()  # the long wait rode through the rotation too
    assert pollers.handed_out == [poller]  # the same poller, with the fresh settings
    assert [r.response_status for r in connections.requests_to(TOKEN_PATH)] == [200, 401, 200]
    waiting.cancel()
    await until(lambda: not pollers.running())


async def test_a_changed_host_is_polled_within_the_refresh_schedule(
    connections, monkeypatch, pollers, trigger
):
    monkeypatch.setattr(poller_connection, "CONNECTION_REFRESH_SECONDS", 0.5)
    keeper = connections.create_import(pending_seconds=600)
    waiting = asyncio.create_task(first_event(trigger([keeper], poll=60, deadline=120)))
    await until(lambda: ids_per_status_request(connections) == [[keeper]])
    [poller] = pollers.running()
    with MimecastSimulator(pending_seconds=0, processing_seconds=0) as moved:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", moved.airflow_connection())
        await asyncio.sleep(0.5)  # the refresh period passes while the keeper keeps the poller alive
        fresh = moved.create_import()
        event = await first_event(trigger([fresh], poll=0.1))
        assert event["status"] == "success"
        assert pollers.handed_out == [poller]
        assert ids_per_status_request(moved) == [[fresh]]
    assert ids_per_status_request(connections) == [[keeper]]  # the old host saw nothing of the new wait
    waiting.cancel()
    await until(lambda: not pollers.running())


async def test_the_connection_is_read_at_most_once_per_refresh_period(
    connections, reads, monkeypatch, pollers, trigger
):
    monkeypatch.setattr(poller_connection, "CONNECTION_REFRESH_SECONDS", 0.3)
    ids = [connections.create_import(pending_seconds=600) for _ in range(30)]
    started = time.monotonic()
    waits = [asyncio.create_task(first_event(trigger([i], poll=0.05))) for i in ids]
    await until(lambda: len(connections.requests_to(GET_IMPORT_STATUS_PATH)) >= 3 * 12)  # a dozen rounds
    elapsed = time.monotonic() - started
    for wait in waits:
        wait.cancel()
    await until(lambda: not pollers.running())
    # Once per refresh period (the first read is the hook's own), not per round, and never per wait.
    assert len(reads) <= elapsed / 0.3 + 1, (reads, elapsed)


async def test_waits_with_other_hook_params_never_share_a_poller(connections, trigger):
    one, two = (connections.create_import(pending_seconds=0.3, processing_seconds=0) for _ in range(2))
    events = await asyncio.gather(
        first_event(trigger([one])), first_event(trigger([two], hook={"timeout": 7}))
    )
    assert [e["status"] for e in events] == ["success", "success"]
    assert all(len(ids) == 1 for ids in ids_per_status_request(connections))  # never batched together


# ----------------------------------------------------------------- a late trigger (issue 14.4)
async def test_a_trigger_started_after_its_deadline_still_makes_its_last_check(connections, trigger):
    done = connections.create_import(pending_seconds=0, processing_seconds=0)
    # Picked up two minutes late, as after a triggerer failover: the import completed meanwhile.
    assert (await first_event(trigger([done], deadline=-120)))["status"] == "success"
    still = connections.create_import(pending_seconds=600)
    event = await first_event(trigger([still], deadline=-120))
    assert event["status"] == "timeout" and f"import {still}: pending" in event["message"]
    assert ids_per_status_request(connections) == [[done], [still]]  # one check each, then the event


@pytest.mark.parametrize("end_time", [float("nan"), float("inf"), "soon", None])
async def test_a_trigger_refuses_an_end_time_that_is_no_time(connections, end_time, trigger):
    t = trigger(["some-id"])
    t.end_time = end_time
    event = await first_event(t)
    assert event["status"] == "error" and "end_time" in event["message"]
    assert not connections.requests_to(GET_IMPORT_STATUS_PATH)


@pytest.mark.parametrize("ids", [[], ["a", "a"], [None]])
async def test_a_trigger_refuses_import_ids_that_could_never_be_seen(connections, ids, trigger):
    event = await first_event(trigger(ids))
    assert event["status"] == "error" and "import_ids" in event["message"]  # never a success of nothing
    assert not connections.requests_to(GET_IMPORT_STATUS_PATH)


async def test_a_wall_clock_jump_does_not_move_a_running_waits_deadline(connections, monkeypatch, trigger):
    import_id = connections.create_import(pending_seconds=0.5, processing_seconds=0)
    waiting = asyncio.create_task(first_event(trigger([import_id], poll=0.1, deadline=30)))
    await until(lambda: len(connections.requests_to(GET_IMPORT_STATUS_PATH)) >= 1)
    jumped = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: jumped)  # NTP steps the clock an hour ahead
    assert (await waiting)["status"] == "success"


# ----------------------------------------------------------------- rate limits without a hot loop (14.5)
@pytest.mark.parametrize("path", [GET_IMPORT_STATUS_PATH, TOKEN_PATH])
async def test_a_rate_limit_reset_of_zero_never_makes_the_poller_resend_at_once(connections, path, trigger):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(Fault("rate_limit", path=path, reset_ms=0, times=10_000))
    event = await first_event(trigger([import_id], poll=0.05, deadline=0.5))
    assert event["status"] == "timeout" and "rate limit" in event["message"]
    # A floor of 0.25 s that doubles with each 429 (at about 0, 0.25 and 0.75 s, the last one the deadline's
    # check), not hundreds.
    assert len(connections.requests_to(path)) <= 4


async def test_the_rate_limit_floor_starts_over_after_an_answer(connections, pollers):
    ids = [connections.create_import(pending_seconds=600) for _ in range(2)]
    connections.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=0, times=2))
    poller = pollers.poller("mimecast_default", FAST, log=logging.getLogger(__name__))
    async with poller.register(ids, interval=0.05, deadline=time.monotonic() + 30) as wait:
        assert await wait.next_report(give_up_at=time.monotonic() + 10) is not None
        # Answered: the next 429 pauses from the floor again.
        assert poller._schedule.rate_limits.failures == 0
    answers = [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)]
    assert answers[:3] == [429, 429, 200]


# ----------------------------------------------------------------- a bare 401 (issue 14.8)
async def test_a_bare_401_renews_the_token_in_the_trigger(connections, trigger):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(Fault("bare_401", path=GET_IMPORT_STATUS_PATH))
    event = await first_event(trigger([import_id]))
    assert event["status"] == "success"
    assert [r.response_status for r in connections.requests_to(TOKEN_PATH)] == [200, 200]
    assert [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)] == [401, 200]


# ----------------------------------------------------------------- outages (issue 14.10)
async def test_an_outage_shorter_than_the_timeout_does_not_fail_the_waits(connections, trigger):
    first = connections.create_import(pending_seconds=0.5, processing_seconds=0)
    waiting = asyncio.create_task(first_event(trigger([first], deadline=60)))
    await until(lambda: len(connections.requests_to(GET_IMPORT_STATUS_PATH)) >= 1)
    connections.stop()  # Mimecast unreachable: far longer than FAST's retry budget of ~0.03 s
    await asyncio.sleep(0.8)
    joined_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    joined = asyncio.create_task(first_event(trigger([joined_id], deadline=60)))
    await asyncio.sleep(0.3)
    assert not waiting.done() and not joined.done()
    seen = len(connections.requests_to(GET_IMPORT_STATUS_PATH))
    connections.start()
    back = time.monotonic()
    events = await asyncio.gather(waiting, joined)
    assert [e["status"] for e in events] == ["success", "success"]
    assert time.monotonic() - back < MAX_PROBE_BACKOFF_SECONDS + 5  # the next probe, not a long backoff
    # The first request after the outage carried both, the wait that joined meanwhile too.
    [after] = ids_per_status_request(connections)[seen:]
    assert sorted(after) == sorted([first, joined_id])


async def test_during_an_outage_the_poller_probes_one_batch_at_a_time(connections, trigger):
    ids = [connections.create_import(pending_seconds=0, processing_seconds=0) for _ in range(30)]
    connections.unavailable_for(1.0)
    events = await asyncio.gather(*(first_event(trigger([i], deadline=60)) for i in ids))
    assert [e["status"] for e in events] == ["success"] * 30
    answers = [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)]
    failed = answers.count(503)
    # The first round's batches went together (3); then one probe per backoff step (0.05 s doubling, ~5 in
    # 1 s), where polling every batch each time would have cost three requests per step.
    assert failed <= MAX_CONCURRENT_REQUESTS + 7, answers
    assert answers[failed:] == [200] * 3  # once answered, every due wait went at once


async def test_an_outage_past_the_deadline_times_out_naming_the_last_error(connections, trigger):
    import_id = connections.create_import(pending_seconds=600)
    connections.unavailable_for(60)
    started = time.monotonic()
    event = await first_event(trigger([import_id], deadline=0.5))
    assert event["status"] == "timeout"
    assert f"import {import_id} not seen in the last check" in event["message"] and "503" in event["message"]
    assert time.monotonic() - started < 0.5 + MAX_PROBE_BACKOFF_SECONDS + 5


async def test_definitive_failures_still_end_waits_at_once(connections, trigger):
    import_id = connections.create_import(pending_seconds=600)
    connections.inject(Fault("empty", path=GET_IMPORT_STATUS_PATH))  # a 200 that is not Mimecast's answer
    event = await first_event(trigger([import_id], deadline=60))
    assert event["status"] == "error" and "not a Mimecast JSON envelope" in event["message"]
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 1


async def test_refused_credentials_are_read_again_once_then_fail_every_wait(
    simulator, reads, monkeypatch, trigger
):
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", with_secret(simulator.url, "wrong-secret-value"))
    ids = [simulator.create_import() for _ in range(25)]
    events = await asyncio.gather(*(first_event(trigger([i])) for i in ids))
    assert [e["status"] for e in events] == ["error"] * 25
    assert len(reads) == 1  # read again once before failing, not once per batch
    # Refused once, and the round's other batches were not sent to be refused again.
    assert len(simulator.requests_to(TOKEN_PATH)) == 1


# ----------------------------------------------------------------- retryable fail entries (issue 14.11)
async def test_a_retryable_fail_entry_keeps_the_wait_waiting(connections, trigger):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(Fault("retryable_fail", path=GET_IMPORT_STATUS_PATH, times=3))
    event = await first_event(trigger([import_id], poll=0.1))
    assert event["status"] == "success"
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 4  # on its own cadence, not at once


async def test_a_retryable_fail_entry_at_the_deadline_is_named_by_the_timeout(connections, trigger):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(Fault("retryable_fail", path=GET_IMPORT_STATUS_PATH, times=10_000))
    event = await first_event(trigger([import_id], poll=0.1, deadline=0.5))
    assert event["status"] == "timeout" and "err_import_status_unavailable" in event["message"]


# ----------------------------------------------------------------- answers that do not match (issue 15.4)
async def test_an_id_left_out_of_an_answer_is_asked_again(connections, trigger):
    left_out, other = (connections.create_import(pending_seconds=0, processing_seconds=0) for _ in range(2))
    connections.inject(Fault("omit_ids", path=GET_IMPORT_STATUS_PATH, import_ids=(left_out,), times=2))
    events = await asyncio.gather(
        first_event(trigger([left_out, other], poll=0.1)), first_event(trigger([other]))
    )
    assert [e["status"] for e in events] == ["success", "success"]
    assert sum(left_out in ids for ids in ids_per_status_request(connections)) == 3


async def test_an_id_mimecast_never_answers_times_out_naming_it(connections, trigger):
    never, seen = (connections.create_import(pending_seconds=0, processing_seconds=0) for _ in range(2))
    connections.inject(Fault("omit_ids", path=GET_IMPORT_STATUS_PATH, import_ids=(never,), times=10_000))
    event = await first_event(trigger([never, seen], poll=0.1, deadline=0.5))
    assert event["status"] == "timeout"
    assert f"import {never} not seen in the last check" in event["message"]
    assert "without the import(s)" in event["message"] and seen not in event["message"]


async def test_an_id_nobody_asked_for_is_never_delivered_as_a_success(connections, pollers, trigger):
    asked = connections.create_import(pending_seconds=0.3, processing_seconds=0)
    unasked = connections.create_import(pending_seconds=0, processing_seconds=0)  # completed at once
    # The wait for `unasked` is polled first, its answer leaving it out; it then waits 60 s for its next poll.
    connections.inject(Fault("omit_ids", path=GET_IMPORT_STATUS_PATH, import_ids=(unasked,)))
    other = asyncio.create_task(first_event(trigger([unasked], poll=60)))
    await until(lambda: len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 1)
    connections.inject(Fault("extra_ids", path=GET_IMPORT_STATUS_PATH, import_ids=(unasked,), times=50))
    event = await first_event(trigger([asked], poll=0.1))
    assert event["status"] == "success" and [s["id"] for s in event["statuses"]] == [asked]
    assert not other.done()  # the completed status that came unasked was not taken for an answer
    other.cancel()
    await until(lambda: not pollers.running())


# ----------------------------------------------------------------- the poller's own failures
async def test_a_poller_task_that_dies_fails_its_waits_at_once(connections, pollers, trigger):
    import_id = connections.create_import(pending_seconds=600)
    waiting = asyncio.create_task(first_event(trigger([import_id], poll=0.1, deadline=600)))
    await until(lambda: len(connections.requests_to(GET_IMPORT_STATUS_PATH)) >= 1)
    [poller] = pollers.running()
    assert poller._task is not None
    poller._task.cancel()
    event = await asyncio.wait_for(waiting, 10)
    assert event["status"] == "error" and "stopped" in event["message"]
    assert not pollers.running()


async def test_a_trigger_cancelled_mid_round_leaves_nothing_polling(connections, pollers, trigger):
    import_id = connections.create_import(pending_seconds=600)
    connections.inject(Fault("latency", path=GET_IMPORT_STATUS_PATH, delay=0.5))
    waiting = asyncio.create_task(first_event(trigger([import_id], poll=0.1)))
    await asyncio.sleep(0.2)  # its first request is in flight
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await until(lambda: not pollers.running())
    await asyncio.sleep(0.3)
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 1


# ----------------------------------------------------------------- a new wait sees the connection now (issue 24.8)
async def test_a_new_wait_reads_a_stale_connection_once_before_its_first_check(
    connections, reads, monkeypatch, pollers, trigger
):
    monkeypatch.setattr(poller_connection, "NEW_WAIT_CONNECTION_AGE_SECONDS", 0.3)
    keeper = connections.create_import(pending_seconds=600)
    waiting = asyncio.create_task(first_event(trigger([keeper], poll=60, deadline=120)))
    await until(lambda: ids_per_status_request(connections) == [[keeper]])
    [poller] = pollers.running()
    with MimecastSimulator(pending_seconds=0, processing_seconds=0) as moved:
        # The host changed right before these waits deferred; the poller read the connection 0.3 s ago
        # (60 s in production would be its refresh: far too late for a new wait).
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", moved.airflow_connection())
        await asyncio.sleep(0.35)
        fresh = [moved.create_import() for _ in range(5)]
        events = await asyncio.gather(*(first_event(trigger([i], poll=0.1)) for i in fresh))
        assert {e["status"] for e in events} == {"success"}
        assert pollers.handed_out == [poller]
        assert sorted(i for ids in ids_per_status_request(moved) for i in ids) == sorted(fresh)
    assert reads == ["mimecast_default"]  # once for the five waits that registered together
    assert ids_per_status_request(connections) == [[keeper]]  # the old host saw nothing of them
    waiting.cancel()
    await until(lambda: not pollers.running())


async def test_waits_already_polling_keep_the_refresh_schedule(connections, reads, monkeypatch, trigger):
    monkeypatch.setattr(poller_connection, "NEW_WAIT_CONNECTION_AGE_SECONDS", 0.3)
    ids = [connections.create_import(pending_seconds=600) for _ in range(3)]
    waits = [asyncio.create_task(first_event(trigger([i], poll=0.05))) for i in ids]
    await until(lambda: len(connections.requests_to(GET_IMPORT_STATUS_PATH)) >= 20)
    for wait in waits:
        wait.cancel()
    assert reads == []  # no wait registered while the copy was stale; 60 s have not passed
