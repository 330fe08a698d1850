"""The sensor's end_from_trigger and start_from_trigger: the task-end events, the trigger that fires them
(run in an event loop against the simulator), its serialized form, and where a sensor may start in the
triggerer.
"""

from __future__ import annotations

import importlib
import json
import time
from typing import Any

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent

from airflow_provider_mimecast.sensors.import_status import MimecastImportStatusSensor
from airflow_provider_mimecast.status import ImportStatus
from airflow_provider_mimecast.triggers import task_end as task_end_module
from airflow_provider_mimecast.triggers import triggerer_options
from airflow_provider_mimecast.triggers.import_status import MimecastImportStatusTrigger
from airflow_provider_mimecast.triggers.task_end import EndRules, task_end
from airflow_provider_mimecast.wait_event import ImportWaitEvent

FAST = {"retry_delay": 0.01}


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def _record(self, level: str, message: str, *args: Any) -> None:
        self.lines.append((level, message % args if args else message))

    def info(self, message: str, *args: Any) -> None:
        self._record("info", message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self._record("warning", message, *args)

    def error(self, message: str, *args: Any) -> None:
        self._record("error", message, *args)


def status(import_id: str = "imp-1", state: str = "completed", ok: int = 3) -> ImportStatus:
    return ImportStatus.from_api(
        {"id": import_id, "status": state, "totalUsers": 3, "successfulImportedUsers": ok}
    )


SUCCESS = ImportWaitEvent.success([status()])
PARTIAL = ImportWaitEvent.success([status(ok=1)])
TIMEOUT = ImportWaitEvent.timeout("Timed out waiting: import imp-1: processing", [status(state="processing")])
ERROR = ImportWaitEvent.error("Mimecast refused the credentials")
FINAL = {"fail_in_trigger": True}


@pytest.mark.parametrize(
    ("wait", "rules", "ends_as"),
    [
        (SUCCESS, {}, TaskSuccessEvent),
        (PARTIAL, {}, TaskSuccessEvent),  # a warning only
        (PARTIAL, {"fail_on_partial_import": True, **FINAL}, TaskFailedEvent),
        (PARTIAL, {"fail_on_partial_import": True, "never_fail": True}, TaskSkippedEvent),
        (TIMEOUT, FINAL, TaskFailedEvent),
        (TIMEOUT, {"soft_fail": True}, TaskSkippedEvent),
        (TIMEOUT, {"never_fail": True, **FINAL}, TaskFailedEvent),  # never_fail does not skip a timeout
        (ERROR, FINAL, TaskFailedEvent),
        (ERROR, {"never_fail": True}, TaskSkippedEvent),
        (ERROR, {"soft_fail": True, **FINAL}, TaskFailedEvent),  # soft_fail skips the timeout only
    ],
)
def test_each_outcome_ends_the_task_as_the_worker_would(wait, rules, ends_as):
    assert type(task_end(wait, EndRules(**rules), log=RecordingLog())) is ends_as


def test_a_success_pushes_the_return_value_a_dict_for_one_id_a_list_for_several():
    one = task_end(SUCCESS, EndRules(single=True), log=RecordingLog())
    assert one.xcoms == {"return_value": status().as_dict()}
    several = task_end(ImportWaitEvent.success([status("a"), status("b")]), EndRules(), log=RecordingLog())
    assert [s["id"] for s in several.xcoms["return_value"]] == ["a", "b"]


@pytest.mark.parametrize("wait", [TIMEOUT, ERROR, PARTIAL])
def test_a_failure_airflow_may_retry_resumes_the_task_on_a_worker(wait):
    event = task_end(wait, EndRules(fail_on_partial_import=True), log=RecordingLog())
    assert type(event) is TriggerEvent and event.payload == wait.to_event()


def test_a_failure_in_the_trigger_logs_why():
    log = RecordingLog()
    task_end(ERROR, EndRules(**FINAL), log=log)
    assert ("error", "MimecastError: Mimecast refused the credentials") in log.lines


def test_a_task_end_event_carries_the_ordinary_payload_for_dag_test():
    event = task_end_module.with_payload_for_dag_test(
        task_end(SUCCESS, EndRules(), log=RecordingLog()), SUCCESS
    )
    assert type(event) is TaskSuccessEvent and event.payload == SUCCESS.to_event()


# -- the trigger, run in an event loop against the simulator ---------------------------------------------


async def first_event(t: MimecastImportStatusTrigger) -> Any:
    events = [event async for event in t.run()]
    assert len(events) == 1
    return events[0]


async def test_the_trigger_ends_a_completed_wait_with_a_success(trigger, connections):
    import_id = connections.create_import(total_users=4, pending_seconds=0, processing_seconds=0.1)
    event = await first_event(trigger([import_id], poll=0.05, end_from_trigger=True, single=True))
    assert type(event) is TaskSuccessEvent
    assert (event.xcoms["return_value"]["id"], event.xcoms["return_value"]["totalUsers"]) == (import_id, 4)
    assert json.loads(json.dumps(event.xcoms)) == event.xcoms


async def test_the_trigger_fails_the_task_when_no_retry_is_left(trigger, connections):
    event = await first_event(trigger(["unknown-id"], poll=0.05, end_from_trigger=True, fail_in_trigger=True))
    assert type(event) is TaskFailedEvent


async def test_the_trigger_skips_on_its_deadline_under_soft_fail(trigger, connections):
    import_id = connections.create_import(pending_seconds=600)
    event = await first_event(
        trigger([import_id], poll=0.05, deadline=0.3, end_from_trigger=True, soft_fail=True)
    )
    assert type(event) is TaskSkippedEvent


async def test_without_end_from_trigger_the_events_are_unchanged(trigger, connections):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    event = await first_event(trigger([import_id], poll=0.05))
    assert type(event) is TriggerEvent and event.payload["status"] == "success"


async def test_a_trigger_started_by_the_task_takes_its_deadline_from_when_it_starts(connections):
    import_id = connections.create_import(pending_seconds=600)
    started = MimecastImportStatusTrigger(
        import_ids=[],
        mimecast_conn_id="mimecast_default",
        poll_interval=10,
        end_time=None,
        hook_params=FAST,
        timeout=0.5,
        import_id=import_id,
    )
    before = time.time()
    event = await first_event(started)
    assert event.payload["status"] == "timeout" and import_id in event.payload["message"]
    assert before + 0.5 <= started.end_time <= time.time()


# -- serialized only when used ------------------------------------------------------------------------------

TODAY = {
    "import_ids": ["a"],
    "mimecast_conn_id": "c",
    "poll_interval": 5.0,
    "end_time": 1.0,
    "hook_params": {},
}


def rebuilt(t: MimecastImportStatusTrigger) -> tuple[str, dict[str, Any]]:
    classpath, kwargs = t.serialize()
    module, _, name = classpath.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))
    assert again.serialize() == (classpath, kwargs)
    return classpath, kwargs


def test_a_trigger_built_as_today_serializes_as_today():
    assert rebuilt(MimecastImportStatusTrigger(**TODAY)) == (
        "airflow_provider_mimecast.triggers.import_status.MimecastImportStatusTrigger",
        TODAY,
    )
    # Options the task did not use leave no trace.
    assert rebuilt(MimecastImportStatusTrigger(**TODAY, single=True))[1] == TODAY


def test_the_new_kwargs_round_trip_when_used():
    _, kwargs = rebuilt(
        MimecastImportStatusTrigger(**TODAY, end_from_trigger=True, single=True, soft_fail=True, timeout=60.0)
    )
    assert kwargs == {**TODAY, "end_from_trigger": True, "single": True, "soft_fail": True, "timeout": 60.0}


#: What an earlier build of this version serialized for MimecastImportUsersOperator(end_from_trigger=True):
#: the operator's retry record, for the trigger to delete on success.
EARLIER_BUILDS_OPERATOR_TRIGGER = {
    **TODAY,
    "end_from_trigger": True,
    "single": True,
    "fail_in_trigger": True,
    "started_import_key": "mimecast_import_users.0123456789abcdef0123456789abcdef",
}


def test_a_trigger_an_earlier_build_serialized_with_started_import_key_still_builds():
    # As the triggerer builds it: the classpath imported, the stored kwargs passed as they are.
    classpath, _ = MimecastImportStatusTrigger(**TODAY).serialize()
    module, _, name = classpath.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**EARLIER_BUILDS_OPERATOR_TRIGGER)
    expected = {k: v for k, v in EARLIER_BUILDS_OPERATOR_TRIGGER.items() if k != "started_import_key"}
    assert again.serialize() == (classpath, expected)


async def test_that_trigger_still_ends_its_task_and_touches_no_variable(trigger, connections, monkeypatch):
    from airflow.providers.common.compat import sdk

    touched: list[str] = []
    for method in ("get", "set", "delete"):
        monkeypatch.setattr(sdk.Variable, method, staticmethod(lambda *a, m=method, **k: touched.append(m)))
    import_id = connections.create_import(total_users=2, pending_seconds=0, processing_seconds=0)
    its_own = {k: v for k, v in EARLIER_BUILDS_OPERATOR_TRIGGER.items() if k not in TODAY}
    event = await first_event(trigger([import_id], poll=0.05, **its_own))
    assert type(event) is TaskSuccessEvent and event.xcoms["return_value"]["id"] == import_id
    # The record it names is no longer the trigger's to delete.
    assert touched == []


def test_an_unknown_kwarg_is_refused():
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        MimecastImportStatusTrigger(**TODAY, nonsense=True)


# -- start_from_trigger: where Airflow can start the sensor in the triggerer ------------------------------


def test_a_sensor_with_literal_ids_starts_in_the_triggerer():
    sensor = MimecastImportStatusSensor(
        task_id="wait",
        import_id="imp-1",
        deferrable=True,
        start_from_trigger=True,
        timeout=60,
        poke_interval=5,
    )
    args = sensor.start_trigger_args
    assert sensor.start_from_trigger is True and args is not None and args.next_method == "execute_complete"
    assert args.trigger_kwargs == {
        "import_ids": [],
        "mimecast_conn_id": "mimecast_default",
        "poll_interval": 5.0,
        "end_time": None,
        "hook_params": {},
        "timeout": 60.0,
        "import_id": "imp-1",
    }
    # The trigger Airflow builds from those kwargs.
    assert MimecastImportStatusTrigger(**args.trigger_kwargs).import_id == "imp-1"


def test_end_from_trigger_goes_with_a_sensor_started_in_the_triggerer():
    sensor = MimecastImportStatusSensor(
        task_id="wait",
        import_id=["a", "b"],
        deferrable=True,
        start_from_trigger=True,
        end_from_trigger=True,
        soft_fail=True,
    )
    assert sensor.start_trigger_args.trigger_kwargs["end_from_trigger"] is True
    assert sensor.start_trigger_args.trigger_kwargs["soft_fail"] is True
    assert sensor.start_trigger_args.trigger_kwargs["fail_in_trigger"] is True  # no retries


def test_a_sensor_on_an_upstream_xcom_starts_on_a_worker_and_says_why(capfd):
    from airflow.providers.common.compat.sdk import DAG

    from airflow_provider_mimecast.operators.import_status import MimecastGetImportStatusOperator

    with DAG(dag_id="d", schedule=None):
        upstream = MimecastGetImportStatusOperator(task_id="up", import_id="x")
        sensor = MimecastImportStatusSensor(
            task_id="wait", import_id=upstream.output, deferrable=True, start_from_trigger=True
        )
    assert sensor.start_from_trigger is False and sensor.start_trigger_args is None
    assert "XComArg" in (sensor._not_started_in_triggerer or "")


@pytest.mark.parametrize(
    ("line", "native", "starts"),
    [((3, 3), False, True), ((3, 3), True, False), ((3, 2), False, False), ((2, 11), False, False)],
)
def test_templated_ids_start_in_the_triggerer_only_where_airflow_renders_them_there(
    monkeypatch, line, native, starts
):
    monkeypatch.setattr(triggerer_options, "airflow_version", lambda: line)
    why = triggerer_options.why_not_start_in_triggerer(
        {"import_id": "{{ params.import_id }}", "mimecast_conn_id": "mimecast_default"},
        native_rendering=native,
    )
    assert (why is None) == starts
    assert (
        triggerer_options.why_not_start_in_triggerer({"import_id": "imp-1"}, native_rendering=native) is None
    )


def test_without_deferrable_the_options_do_nothing():
    sensor = MimecastImportStatusSensor(
        task_id="wait", import_id="imp-1", start_from_trigger=True, end_from_trigger=True, deferrable=False
    )
    assert sensor.start_from_trigger is False and sensor.end_from_trigger is False


def test_the_scheduler_reads_start_from_trigger_from_the_serialized_dag():
    from airflow.providers.common.compat.sdk import DAG

    try:
        from airflow.serialization.serialized_objects import DagSerialization as Serializer
    except ImportError:  # Airflow 2.11 to 3.2
        from airflow.serialization.serialized_objects import SerializedDAG as Serializer  # type: ignore[no-redef]

    with DAG(dag_id="starts_in_the_triggerer", schedule=None) as dag:
        MimecastImportStatusSensor(
            task_id="wait", import_id=["a", "b"], deferrable=True, start_from_trigger=True
        )
    task = Serializer.from_dict(Serializer.to_dict(dag)).get_task("wait")
    kwargs = task.start_trigger_args.trigger_kwargs
    kwargs = kwargs.get("__var", kwargs)  # BaseSerialization-encoded on 3.3
    assert (
        task.start_from_trigger is True and kwargs["import_id"] == ["a", "b"] and kwargs["end_time"] is None
    )
