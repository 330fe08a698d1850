"""MimecastImportStatusTrigger on its own: its events, its deadline, its serialized form."""

from __future__ import annotations

import importlib
import json
import time
from typing import Any

from airflow_provider_mimecast.testing.simulator import GET_IMPORT_STATUS_PATH, Fault
from airflow_provider_mimecast.triggers.import_status import MimecastImportStatusTrigger


async def collect(trigger: MimecastImportStatusTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


async def test_trigger_yields_one_success_event_with_the_statuses(connections, trigger):
    import_id = connections.create_import(total_users=5)
    [event] = await collect(trigger([import_id], poll=0.05))
    assert event["status"] == "success"
    assert [(s["id"], s["status"], s["totalUsers"]) for s in event["statuses"]] == [
        (import_id, "completed", 5)
    ]
    assert json.loads(json.dumps(event)) == event


async def test_trigger_yields_one_error_event_for_a_fail_entry(connections, trigger):
    [event] = await collect(trigger(["unknown-id"], poll=0.05))
    assert event["status"] == "error" and "'unknown-id' err_import_not_found" in event["message"]


async def test_trigger_times_out_after_a_last_check_at_the_deadline(connections, trigger):
    import_id = connections.create_import(pending_seconds=100)
    started = time.time()
    # 2 s: the first check, at once, is answered well before the deadline even on a loaded machine (an
    # answer after it would count as the last check).
    [event] = await collect(trigger([import_id], poll=10, deadline=2))
    assert event["status"] == "timeout" and import_id in event["message"]
    checks = connections.requests_to(GET_IMPORT_STATUS_PATH)
    assert len(checks) == 2  # the first at once, the last at the deadline rather than after a full poll
    assert 2 <= time.time() - started < 8


async def test_trigger_rides_out_transient_errors(connections, trigger):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(Fault("server_error", path=GET_IMPORT_STATUS_PATH, status=503, times=2))
    [event] = await collect(trigger([import_id], poll=0.05))
    assert event["status"] == "success"


def test_trigger_serialization_round_trips(trigger):
    built = trigger(["a", "b"], poll=7)
    classpath, kwargs = built.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "import_ids": ["a", "b"],
        "mimecast_conn_id": "mimecast_default",
        "poll_interval": 7,
        "end_time": built.end_time,
        "hook_params": {"retry_delay": 0.01, "max_retries": 2},
    }
