"""MimecastImportStatusSensor in every mode, against the simulator."""

from __future__ import annotations

import importlib
import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_mimecast.errors import (
    MimecastApiError,
    MimecastConfigurationError,
    MimecastError,
    MimecastImportFailedError,
)
from airflow_provider_mimecast.operators.import_status import MimecastGetImportStatusOperator
from airflow_provider_mimecast.sensors.import_status import MimecastImportStatusSensor
from airflow_provider_mimecast.testing.simulator import GET_IMPORT_STATUS_PATH, Fault
from airflow_provider_mimecast.triggers.import_status import MimecastImportStatusTrigger
from tests.canned import canned_server, envelope
from tests.conftest import RecordingTaskInstance, oauth_connection

FAST = {"retry_delay": 0.01}


def sensor(**kwargs: Any) -> MimecastImportStatusSensor:
    kwargs.setdefault("hook_params", FAST)
    kwargs.setdefault("poke_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    return MimecastImportStatusSensor(task_id="wait", **kwargs)


@pytest.mark.parametrize(
    ("timeline", "done"),
    [
        ({"pending_seconds": 100}, False),
        ({"pending_seconds": 0, "processing_seconds": 100}, False),
        ({"pending_seconds": 0, "processing_seconds": 0}, True),
    ],
)
def test_poke_is_done_only_when_completed(connections, timeline, done, capfd):
    import_id = connections.create_import(total_users=4, **timeline)
    result = sensor(import_id=import_id).poke({})
    assert result.is_done is done
    assert (result.xcom_value["id"] if done else result.xcom_value) == (import_id if done else None)
    assert f"Mimecast import {import_id}: " in capfd.readouterr().out


def test_several_ids_return_a_list_in_order(connections):
    ids = [connections.create_import(pending_seconds=0, processing_seconds=0) for _ in range(2)]
    value = sensor(import_id=ids[::-1]).execute({})
    assert [item["id"] for item in value] == ids[::-1]


def test_poke_mode_waits_through_the_timeline(connections):
    import_id = connections.create_import(total_users=2)
    assert sensor(import_id=import_id).execute({})["status"] == "completed"
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) >= 3


def test_a_fail_entry_fails_at_once(connections):
    started = time.monotonic()
    with pytest.raises(MimecastApiError, match="'unknown-id' err_import_not_found"):
        sensor(import_id="unknown-id", timeout=60).execute({})
    assert time.monotonic() - started < 5
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 1


def test_an_undocumented_status_fails_naming_id_and_status(monkeypatch):
    item = {"id": "imp-1", "status": "failed", "totalUsers": 3, "successfulImportedUsers": 0}
    with canned_server({GET_IMPORT_STATUS_PATH: envelope(item)}) as url:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(url))
        with pytest.raises(MimecastImportFailedError, match="'imp-1' has status 'failed'"):
            sensor(import_id="imp-1").execute({})


def test_a_partial_import_warns_with_both_counts(connections, capfd):
    import_id = connections.create_import(
        total_users=10, successful_imported_users=7, pending_seconds=0, processing_seconds=0
    )
    assert sensor(import_id=import_id).execute({})["successfulImportedUsers"] == 7
    assert "completed with 7 of 10 users imported" in capfd.readouterr().out


def test_a_partial_import_fails_when_asked(connections):
    import_id = connections.create_import(
        total_users=10, successful_imported_users=7, pending_seconds=0, processing_seconds=0
    )
    with pytest.raises(MimecastImportFailedError, match=r"7 of 10 users.*fail_on_partial_import=True"):
        sensor(import_id=import_id, fail_on_partial_import=True).execute({})


@pytest.mark.parametrize(
    ("import_id", "message"),
    [
        ([], "import_id is empty"),
        ("", "is blank"),
        (["a", None], r"import_id\[1\] is None: .*XCom is missing"),
        (["a", "a"], "more than once"),
    ],
)
def test_bad_ids_are_rejected_when_the_task_starts(connections, import_id, message):
    with pytest.raises(MimecastConfigurationError, match=message):
        sensor(import_id=import_id, deferrable=True).execute({})
    assert connections.requests == []


def test_deferrable_checks_once_then_defers_with_the_deadline(connections):
    import_id = connections.create_import(pending_seconds=100)
    before = time.time()
    with pytest.raises(TaskDeferred) as caught:
        sensor(import_id=import_id, deferrable=True, timeout=600, poke_interval=15).execute({})
    trigger = caught.value.trigger
    assert isinstance(trigger, MimecastImportStatusTrigger)
    assert (trigger.import_ids, trigger.mimecast_conn_id, trigger.poll_interval) == (
        [import_id],
        "mimecast_default",
        15,
    )
    assert before + 600 <= trigger.end_time <= time.time() + 600
    assert trigger.hook_params == FAST
    assert caught.value.method_name == "execute_complete"
    assert caught.value.timeout.total_seconds() > 600  # Airflow's own limit is only a backstop
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 1


def test_deferrable_does_not_defer_when_already_completed(connections):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    assert sensor(import_id=import_id, deferrable=True).execute({})["status"] == "completed"


def test_deferrable_defaults_from_airflow_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    from airflow_provider_mimecast.sensors import import_status

    try:
        reloaded = importlib.reload(import_status)
        assert reloaded.MimecastImportStatusSensor(task_id="t", import_id="x").deferrable is True
    finally:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
        importlib.reload(import_status)
    assert import_status.MimecastImportStatusSensor(task_id="t", import_id="x").deferrable is False


def status_item(import_id: str, status: str = "completed", total: int = 3, ok: int = 3) -> dict[str, Any]:
    return {"id": import_id, "status": status, "totalUsers": total, "successfulImportedUsers": ok}


def test_execute_complete_turns_events_into_results_or_errors():
    task = sensor(import_id="a")
    assert task.execute_complete({}, {"status": "success", "statuses": [status_item("a")]})["id"] == "a"
    with pytest.raises(MimecastError, match="bad credentials"):
        task.execute_complete({}, {"status": "error", "message": "bad credentials"})
    with pytest.raises(AirflowSensorTimeout, match="Timed out"):
        task.execute_complete({}, {"status": "timeout", "message": "Timed out waiting", "statuses": []})
    partial = {"status": "success", "statuses": [status_item("a", ok=1)]}
    with pytest.raises(MimecastImportFailedError):
        sensor(import_id="a", fail_on_partial_import=True).execute_complete({}, partial)


@pytest.mark.parametrize("as_list", [False, True])
def test_import_id_and_connection_are_rendered_before_use(connections, as_list):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    context: Any = {"params": {"import_id": import_id, "conn": "mimecast_hmac"}}
    templated_id = ["{{ params.import_id }}"] if as_list else "{{ params.import_id }}"
    operators = (
        sensor(import_id=templated_id, mimecast_conn_id="{{ params.conn }}"),
        MimecastGetImportStatusOperator(
            task_id="get", import_id=templated_id, mimecast_conn_id="{{ params.conn }}", hook_params=FAST
        ),
    )
    for operator in operators:
        operator.render_template_fields(context)
        value = operator.execute({"ti": RecordingTaskInstance()})
        assert [status["id"] for status in (value if as_list else [value])] == [import_id]
    # Both read the status over the rendered connection: API 1.0, signed requests.
    requests = connections.requests_to(GET_IMPORT_STATUS_PATH)
    assert len(requests) == 2 and all(r.headers["authorization"].startswith("MC ") for r in requests)


# -- the check before deferring leaves rate limits and outages to the triggerer ------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=60_000),
        Fault("server_error", path=GET_IMPORT_STATUS_PATH, status=503, times=2),
    ],
    ids=["rate_limit", "outage"],
)
def test_the_check_before_deferring_defers_through_a_rate_limit_or_an_outage(connections, fault):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(fault)
    waiting = sensor(import_id=import_id, deferrable=True, hook_params={**FAST, "max_retries": 1})
    with pytest.raises(TaskDeferred) as caught:
        waiting.execute({})
    assert caught.value.trigger.import_ids == [import_id]
    # One request per allowed attempt, and no sleep through Mimecast's 60 s reset.
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == fault.times
    assert caught.value.trigger.hook_params == {**FAST, "max_retries": 1}  # the triggerer's hook retries 429s


def test_a_definitive_error_at_the_check_before_deferring_still_fails(connections):
    with pytest.raises(MimecastApiError, match="err_import_not_found"):
        sensor(import_id="unknown-id", deferrable=True).execute({})


# -- soft_fail and never_fail after a deferral ----------------------------------------------------------------

ERROR_EVENT = {"event": {"status": "error", "message": "Mimecast refused the credentials"}}
TIMEOUT_EVENT = {"event": {"status": "timeout", "message": "Timed out waiting", "statuses": []}}


@pytest.mark.parametrize(
    ("next_method", "next_kwargs", "flag", "outcome"),
    [
        ("execute_complete", ERROR_EVENT, None, MimecastError),
        ("execute_complete", ERROR_EVENT, "soft_fail", MimecastError),
        ("execute_complete", ERROR_EVENT, "never_fail", AirflowSkipException),
        ("execute_complete", TIMEOUT_EVENT, "soft_fail", AirflowSkipException),
        ("execute_complete", TIMEOUT_EVENT, "never_fail", AirflowSensorTimeout),
        # Airflow's backstop: the deferral itself timed out (3.x's reason, 2.11's), or the trigger crashed.
        ("__fail__", {"error": "Trigger timeout"}, None, AirflowSensorTimeout),
        ("__fail__", {"error": "Trigger/execution timeout"}, "soft_fail", AirflowSkipException),
        ("__fail__", {"error": "Trigger timeout"}, "never_fail", AirflowSensorTimeout),
        ("__fail__", {"error": "Trigger failure"}, "soft_fail", AirflowException),
        ("__fail__", {"error": "Trigger failure"}, "never_fail", AirflowSkipException),
    ],
)
def test_resuming_after_a_deferral_skips_as_the_poke_loop_does(next_method, next_kwargs, flag, outcome):
    task = sensor(import_id="a", deferrable=True, **({flag: True} if flag else {}))
    with pytest.raises(outcome) as caught:
        task.resume_execution(next_method, next_kwargs, {})
    if outcome is not AirflowSkipException:
        assert not isinstance(caught.value, AirflowSkipException)


def test_a_poke_mode_timeout_names_the_imports_the_answers_left_out(connections):
    seen, left_out = connections.create_import(pending_seconds=100), connections.create_import()
    connections.inject(Fault("omit_ids", path=GET_IMPORT_STATUS_PATH, import_ids=(left_out,), times=10**6))
    with pytest.raises(AirflowSensorTimeout, match=rf"left out imports \['{left_out}'\]"):
        sensor(import_id=[seen, left_out], timeout=1.5).execute({})
    # At least two pokes, each asking again for the import the first answer left out (1.5 s leaves room
    # for the second poke on a loaded machine).
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) >= 4


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_never_fail_skips_a_bad_import_id_before_any_request_in_every_mode(connections, deferrable):
    with pytest.raises(AirflowSkipException, match="never_fail") as caught:
        sensor(import_id="None", deferrable=deferrable, never_fail=True).execute({})
    assert isinstance(caught.value.__cause__, MimecastConfigurationError)
    with pytest.raises(MimecastConfigurationError, match="upstream XCom is missing"):
        sensor(import_id="None", deferrable=deferrable, soft_fail=True).execute({})
    assert connections.requests == []
