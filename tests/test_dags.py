"""End to end: DAGs run with dag.test() against the simulator, in one process (start-up is paid once)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.operators.retry_record import RetryRecord
from airflow_provider_mimecast.testing.simulator import (
    GET_IMPORT_STATUS_PATH,
    IMPORT_USERS_PATH,
    Fault,
    MimecastSimulator,
)
from tests.conftest import SECRETS, oauth_connection, wait_until

pytestmark = pytest.mark.usefixtures("airflow_db")


def dag_bag() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return ti.xcom_pull(task_ids=task_id, key=key)


def dag_bag_of_tests() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    bag = DagBag(dag_folder=str(Path(__file__).parent / "dags"))
    assert bag.import_errors == {}
    return bag


def run(dag_id: str, **run_conf: Any) -> Any:
    return dag_bag_of_tests().get_dag(dag_id).test(run_conf=run_conf)


@pytest.fixture
def unfinished_at_first_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[MimecastSimulator]:
    """``mimecast_default`` on a simulator of its own whose imports answer their first status check
    ``pending`` and every later one ``completed``, however late the task that checks starts (seconds per
    task on a busy machine): a wait's first check never finds its import done.
    """
    with MimecastSimulator(pending_seconds=0, processing_seconds=0, pending_checks=1) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        yield sim


def test_example_dags_parse_without_errors():
    bag = dag_bag()
    assert bag.import_errors == {}
    assert {"example_mimecast_wait_for_import", "example_mimecast_directory_sync"} <= set(bag.dag_ids)


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_sensor_reaches_success_in_every_mode(unfinished_at_first_check, mode):
    # The sensor's first check finds the import unfinished however late the task starts (seconds per task
    # on a busy machine); the next one finds it completed.
    sim = unfinished_at_first_check
    dag_run = run(f"mimecast_test_sensor_{mode}")
    assert states(dag_run) == {"start": "success", "wait": "success"}
    [import_id] = sim.import_ids()
    statuses = [json.loads(r.body)["data"][0]["id"] for r in sim.requests_to("/api/user/get-import-status")]
    assert len(statuses) >= 2 and set(statuses) == {import_id}  # it saw the import unfinished first
    result = xcom(dag_run, "wait")
    assert (result["id"], result["status"], result["totalUsers"]) == (import_id, "completed", 2)


def test_wait_for_import_example_over_api_1(connections):
    import_id = connections.create_import(total_users=5, successful_imported_users=5)
    dag = dag_bag().get_dag("example_mimecast_wait_for_import")
    dag_run = dag.test(run_conf={"import_id": import_id, "mimecast_conn_id": "mimecast_hmac"})
    assert states(dag_run) == {
        "wait_for_import": "success",
        "get_import_status": "success",
        "check_counts": "success",
        "all_users_imported": "success",
        "report_rejected_users": "skipped",
    }
    assert xcom(dag_run, "get_import_status", key="successfulImportedUsers") == 5
    assert {
        r.headers["authorization"].split()[0] for r in connections.requests if r.path.startswith("/api/")
    } == {"MC"}


def test_directory_sync_example_drops_the_malformed_address_and_imports_the_rest(connections):
    dag_run = dag_bag().get_dag("example_mimecast_directory_sync").test()
    assert states(dag_run) == {
        "build_user_rows": "success",
        "plan_sync": "success",
        "start_import": "success",
        "check_counts": "success",
        "report_success": "success",
        "report_rejected_users": "skipped",
    }
    import_id = xcom(dag_run, "start_import", key="import_id")
    assert connections.import_ids() == [import_id]
    # The sample export has 8 active employees, one with a malformed address: left out before upload.
    [request] = connections.requests_to(IMPORT_USERS_PATH)
    # The group was found by name: its secure ID went to import-users, which does not empty it.
    [group] = [g for g in connections.groups() if g.name == "Directory Sync"]
    assert json.loads(request.headers["x-mc-arg"])["data"][0]["groupId"] == group.id
    assert json.loads(request.headers["x-mc-arg"])["data"][0]["clearGroup"] is False
    assert request.body.startswith(b"email,name\n") and b"edsger.dijkstra@example" not in request.body
    assert xcom(dag_run, "start_import", key="upload_rows") == {
        "sent": 7,
        "dropped": 1,
        "dropped_rows": [
            {"row": 5, "email": "edsger.dijkstra@example", "problem": "is not an email address"}
        ],
    }
    # Planned first, then imported: the plan adds the 7 to the empty group, and all 7 are in it after.
    assert xcom(dag_run, "plan_sync", key="import_plan")["add"] == 7
    assert xcom(dag_run, "start_import", key="import_plan")["add"] == 7
    assert xcom(dag_run, "start_import", key="not_in_group") == {"count": 0, "addresses": []}
    assert len(connections.group_members(group.id)) == 7
    final = xcom(dag_run, "start_import")
    assert (final["id"], final["totalUsers"], final["successfulImportedUsers"]) == (import_id, 7, 7)
    assert xcom(dag_run, "report_success") == (
        "Directory sync complete: 7 users imported (7 added, 0 renamed, 0 removed); 1 HR row left out before "
        "upload ('edsger.dijkstra@example' is not an email address)"
    )


def test_directory_sync_example_refuses_a_truncated_export_until_the_run_is_approved(connections, tmp_path):
    dag = dag_bag().get_dag("example_mimecast_directory_sync")
    assert str(dag.test().state) == "success"
    [group] = [g for g in connections.groups() if g.name == "Directory Sync"]
    full = (Path(__file__).parents[1] / "example_dags" / "data" / "hr_export.csv").read_text().splitlines()
    truncated = tmp_path / "export.csv"
    truncated.write_text("\n".join(full[:3]) + "\n")  # the header and two employees
    refused = dag.test(run_conf={"hr_export": str(truncated)})
    assert states(refused)["start_import"] == "failed"
    assert "would remove 5 of the 7 members" in xcom(refused, "plan_sync")["refused"]
    assert (
        len(connections.requests_to(IMPORT_USERS_PATH)) == 1 and len(connections.group_members(group.id)) == 7
    )
    approved = dag.test(run_conf={"hr_export": str(truncated), "max_removals": 5})
    assert states(approved)["start_import"] == "success"
    assert len(connections.group_members(group.id)) == 2


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_import_operator_waits_for_completion(connections, mode):
    dag_run = run(f"mimecast_test_import_and_wait_{mode}")
    assert states(dag_run) == {"import_users": "success"}
    [import_id] = connections.import_ids()
    assert xcom(dag_run, "import_users", key="import_id") == import_id
    final = xcom(dag_run, "import_users")
    assert (final["id"], final["status"], final["successfulImportedUsers"], final["totalUsers"]) == (
        import_id,
        "completed",
        2,
        2,
    )
    assert retry_record(dag_run) is None  # deleted on success, after a deferral too


def test_import_operator_renders_the_path_and_returns_the_id(connections, tmp_path):
    source = tmp_path / "users.csv"
    source.write_text("email,name\nada@example.com,Ada\n")
    dag_run = run("mimecast_test_import_templated_path", path=str(source))
    assert states(dag_run) == {"import_users": "success"}
    [import_id] = connections.import_ids()
    assert xcom(dag_run, "import_users") == import_id == xcom(dag_run, "import_users", key="import_id")
    [request] = connections.requests_to("/api/user/import-users")
    assert request.body == source.read_bytes()


@pytest.mark.parametrize(
    "content",
    [
        "emailAddress,name\nada@example.com,Ada\n",  # the header our examples used to show
        "email,name\nada@example.com,Ada\ngrace@example,Grace\n",  # a malformed address on line 3
    ],
)
def test_import_operator_fails_before_upload_on_a_file_mimecast_would_refuse(connections, tmp_path, content):
    source = tmp_path / "users.csv"
    source.write_text(content)
    dag_run = run("mimecast_test_import_templated_path", path=str(source))
    assert states(dag_run) == {"import_users": "failed"}
    assert try_number(dag_run) == 1
    assert connections.requests == []


def test_import_operator_fails_clearly_on_a_blank_group(connections, tmp_path):
    source = tmp_path / "users.csv"
    source.write_text("email,name\nada@example.com,Ada\n")
    dag_run = run("mimecast_test_import_templated_path", path=str(source), group_id=" ")
    assert states(dag_run) == {"import_users": "failed"}
    assert connections.import_ids() == []


def test_no_secret_reaches_xcom_rendered_fields_or_task_output(connections, capfd):
    """Run both examples (API 2.0 and 1.0) and scan everything a DAG author can see afterwards."""
    from airflow import settings
    from sqlalchemy import text

    from tests.conftest import SECRETS

    bag = dag_bag()
    sync_run = bag.get_dag("example_mimecast_directory_sync").test()
    import_id = xcom(sync_run, "start_import", key="import_id")
    bag.get_dag("example_mimecast_wait_for_import").test(
        run_conf={"import_id": import_id, "mimecast_conn_id": "mimecast_hmac"}
    )
    # Bearer tokens and HMAC signatures the simulator received.
    derived = [
        r.headers["authorization"].split(" ", 1)[1].split(":", 1)[-1]
        for r in connections.requests
        if "authorization" in r.headers
    ]
    assert len(derived) >= 4
    with settings.Session() as session:
        stored = [
            str(row)
            for table in ("xcom", "rendered_task_instance_fields")
            for row in session.execute(text(f"SELECT * FROM {table}")).fetchall()
        ]
    assert any(import_id in row for row in stored)  # the scan reads real rows
    output = capfd.readouterr()
    text_seen = "\n".join([*stored, output.out, output.err])
    for secret in (*SECRETS, *derived):
        assert secret not in text_seen


# -- a task retry resumes the import its first try started ------------------------------------------------

#: A status check that hangs past the retry DAGs' limits (1 s execution_timeout, 0.3 s read timeout): the
#: first try times out after uploading, while it waits. Only the first check hangs, so the retry finds the
#: import completed.
HANGING_STATUS_CHECK = {"kind": "latency", "path": "/api/user/get-import-status", "delay": 1.5}
AIRFLOW_2 = version("apache-airflow").startswith("2.")
AIRFLOW_3_0 = version("apache-airflow").startswith("3.0.")
#: Airflow 3.0's dag.test() hands a rescheduled sensor its first reschedule date as a string (its API client
#: builds the answer with model_construct, unvalidated), so BaseSensorOperator's timeout check fails with a
#: TypeError at the first check after a reschedule that is not done; a real worker gets a datetime.
RESCHEDULE_TIMEOUTS_BROKEN = version("apache-airflow").startswith("3.0.")
#: Reschedule mode in a test whose sensor is rescheduled more than once, which meets that bug on 3.0.
RESCHEDULED_MORE_THAN_ONCE = pytest.param(
    "reschedule",
    marks=pytest.mark.skipif(
        RESCHEDULE_TIMEOUTS_BROKEN,
        reason="Airflow 3.0's dag.test() hands a rescheduled sensor its first reschedule date as a string",
    ),
)


#: Where this Airflow line keeps the import operator's retry record: its task state (3.3+), else a Variable.
TASK_STATE = importlib.util.find_spec("airflow.models.task_state_store") is not None
#: How the log names that place.
RECORD_PLACE = "task state key 'mimecast_started_import'" if TASK_STATE else "Variable mimecast_import_users."


def variable_record(
    dag_run: Any, task_id: str = "import_users", map_index: int = -1
) -> dict[str, Any] | None:
    """The task instance's started-import Variable, read from the metadata database (None if absent)."""
    from airflow import settings
    from airflow.models.variable import Variable as VariableRow
    from sqlalchemy import select

    from airflow_provider_mimecast.operators.retry_record import retry_record_key

    key = retry_record_key(dag_run.dag_id, task_id, dag_run.run_id, map_index)
    with settings.Session() as session:
        row = session.scalar(select(VariableRow).where(VariableRow.key == key))
        return None if row is None else json.loads(row.val)


def task_state_record(
    dag_run: Any, task_id: str = "import_users", map_index: int = -1
) -> dict[str, Any] | None:
    """The task instance's record in Airflow's task state table (3.3+; None if absent or before 3.3)."""
    if not TASK_STATE:
        return None
    from airflow import settings
    from airflow.models.task_state_store import TaskStateStoreModel as Row
    from sqlalchemy import select

    from airflow_provider_mimecast.operators.record_store import TASK_STATE_KEY

    with settings.Session() as session:
        row = session.scalar(
            select(Row).where(
                Row.dag_id == dag_run.dag_id,
                Row.run_id == dag_run.run_id,
                Row.task_id == task_id,
                Row.map_index == map_index,
                Row.key == TASK_STATE_KEY,
            )
        )
        return None if row is None else json.loads(row.value)


def retry_record(dag_run: Any, task_id: str = "import_users", map_index: int = -1) -> dict[str, Any] | None:
    """The task instance's retry record, wherever it is (None if there is none)."""
    records = [
        r
        for r in (
            task_state_record(dag_run, task_id, map_index),
            variable_record(dag_run, task_id, map_index),
        )
        if r
    ]
    assert len(records) <= 1, records
    return records[0] if records else None


def kept_record(dag_run: Any, task_id: str = "import_users") -> dict[str, Any] | None:
    """The record a failed task kept, read from the store this Airflow line keeps it in: on 3.3 the task
    state, and no Variable at all."""
    if TASK_STATE:
        assert variable_record(dag_run, task_id) is None
        return task_state_record(dag_run, task_id)
    return variable_record(dag_run, task_id)


@pytest.fixture
def variables_written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The retry record's writes and deletions of Variables during the test ("set", "delete")."""
    from airflow_provider_mimecast.operators import record_store

    calls: list[str] = []

    class Spy:
        def __getattr__(self, name: str) -> Any:
            if name in ("set", "delete"):
                calls.append(name)
            return getattr(real, name)

    real = record_store.Variable
    monkeypatch.setattr(record_store, "Variable", Spy())
    return calls


def try_number(dag_run: Any, task_id: str = "import_users") -> int:
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return ti.try_number


def users_file(tmp_path: Path, *names: str) -> Path:
    source = tmp_path / "users.csv"
    source.write_text("email,name\n" + "".join(f"{n.lower()}@example.com,{n}\n" for n in names))
    return source


@pytest.mark.parametrize(
    "timeout_kind",
    [
        pytest.param(
            "execution_timeout",
            marks=pytest.mark.skipif(
                AIRFLOW_2,
                reason="Airflow 2's AirflowTaskTimeout is a BaseException that escapes dag.test() instead of "
                "being retried (a real worker retries it)",
            ),
        ),
        "read_timeout",
    ],
)
def test_a_retry_after_a_timeout_resumes_the_started_import(connections, tmp_path, capfd, timeout_kind):
    source = users_file(tmp_path, "Ada", "Grace")
    # The first status check hangs past the try's limit: the HTTP read timeout (0.3 s) or the task's
    # execution_timeout (3 s), whichever the DAG sets.
    connections.inject(Fault(**{**HANGING_STATUS_CHECK, "delay": 4.5}))
    dag_run = run(f"mimecast_test_import_retry_{timeout_kind}", path=str(source))
    assert states(dag_run) == {"import_users": "success"}
    assert try_number(dag_run) == 2  # the first try really timed out
    [import_id] = connections.import_ids()
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert xcom(dag_run, "import_users", key="import_id") == import_id
    final = xcom(dag_run, "import_users")
    assert (final["id"], final["status"], final["totalUsers"]) == (import_id, "completed", 2)
    assert "resuming it instead of uploading again" in capfd.readouterr().out
    assert retry_record(dag_run) is None  # cleaned up on success


def test_a_retry_with_changed_content_uploads_it_as_a_new_import(connections, tmp_path, capfd):
    source = users_file(tmp_path, "Ada")

    def change_the_file_once_uploaded() -> None:
        deadline = time.monotonic() + 30
        while not connections.requests_to(IMPORT_USERS_PATH) and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        users_file(tmp_path, "Ada", "Grace", "Linus")

    changer = threading.Thread(target=change_the_file_once_uploaded)
    changer.start()
    connections.inject(Fault(**HANGING_STATUS_CHECK))
    dag_run = run("mimecast_test_import_retry_read_timeout", path=str(source))
    changer.join()
    assert states(dag_run) == {"import_users": "success"}
    first, second = connections.import_ids()
    bodies = [r.body for r in connections.requests_to(IMPORT_USERS_PATH)]
    assert bodies[1] == source.read_bytes() != bodies[0]
    final = xcom(dag_run, "import_users")
    assert (final["id"], final["totalUsers"]) == (second, 3)
    assert xcom(dag_run, "import_users", key="import_id") == second
    output = capfd.readouterr().out
    assert f"started Mimecast import {first}, but the content differs" in output
    assert retry_record(dag_run) is None


def fail_the_record_backend(
    monkeypatch: pytest.MonkeyPatch, method: str, when: Any = lambda value: True
) -> None:
    """Make ``method`` of the retry record's backend this Airflow line uses raise as an unreachable metadata store
    would; ``set`` only for values that match ``when`` (all by default)."""
    from airflow_provider_mimecast.operators import record_store

    store = record_store.TaskStateBackend if TASK_STATE else record_store.VariableBackend
    real = getattr(store, method)

    def fail(self: Any, *args: Any) -> Any:
        if method == "set" and not when(args[0]):
            return real(self, *args)
        raise RuntimeError("the metadata store is unreachable")

    monkeypatch.setattr(store, method, fail)


def test_an_upload_that_cannot_be_recorded_first_is_not_sent(connections, monkeypatch):
    fail_the_record_backend(monkeypatch, "set")
    dag_run = run("mimecast_test_import_and_wait_poke")
    assert states(dag_run) == {"import_users": "failed"}
    assert connections.requests_to(IMPORT_USERS_PATH) == [] and connections.import_ids() == []


def test_an_import_id_that_cannot_be_recorded_loses_neither_the_import_nor_its_id(
    connections, capfd, monkeypatch
):
    fail_the_record_backend(monkeypatch, "set", when=lambda value: value["import_id"] != "")
    dag_run = run("mimecast_test_import_and_wait_poke")
    assert states(dag_run) == {"import_users": "success"}
    [import_id] = connections.import_ids()
    assert xcom(dag_run, "import_users", key="import_id") == import_id
    assert xcom(dag_run, "import_users")["id"] == import_id
    output = capfd.readouterr().out
    assert f"MIMECAST IMPORT {import_id} STARTED, but recording its ID in {RECORD_PLACE}" in output


def test_a_retry_that_cannot_read_the_variable_fails_rather_than_upload_again(
    connections, tmp_path, capfd, monkeypatch
):
    fail_the_record_backend(monkeypatch, "get")
    connections.inject(Fault(**HANGING_STATUS_CHECK))
    dag_run = run("mimecast_test_import_retry_read_timeout", path=str(source := users_file(tmp_path, "Ada")))
    assert states(dag_run) == {"import_users": "failed"}
    assert try_number(dag_run) == 2
    [import_id] = connections.import_ids()
    assert "Not uploading, to avoid a duplicate import" in capfd.readouterr().out
    # Kept after the final failure (clearing the task would resume it), and holding no secret.
    kept = retry_record(dag_run)
    assert kept is not None
    assert (kept["import_id"], kept["sha256"]) == (import_id, hashlib.sha256(source.read_bytes()).hexdigest())
    assert not any(secret in json.dumps(kept) for secret in SECRETS)


def test_a_variable_that_cannot_be_deleted_does_not_fail_the_finished_task(connections, capfd, monkeypatch):
    fail_the_record_backend(monkeypatch, "delete")
    dag_run = run("mimecast_test_import_and_wait_poke")
    assert states(dag_run) == {"import_users": "success"}
    [import_id] = connections.import_ids()
    assert xcom(dag_run, "import_users")["id"] == import_id
    assert f"Could not delete {RECORD_PLACE}" in capfd.readouterr().out
    assert retry_record(dag_run)["import_id"] == import_id  # left behind, as the warning says


# -- issue 14.1: however Airflow retries, one upload makes one import ---------------------------------------

#: Answers to the upload after which Mimecast may have created the import: each executes the request first.
AMBIGUOUS_UPLOADS = {
    "server_error": Fault("server_error", path=IMPORT_USERS_PATH),
    # Longer than the retry DAGs' 1 s HTTP timeout: the simulator imports after the client gave up.
    "read_timeout": Fault("latency", path=IMPORT_USERS_PATH, delay=1.5),
    "redirect": Fault("redirect", path=IMPORT_USERS_PATH),
}
NO_WAIT_AND_WAIT = pytest.mark.parametrize("wait", [False, True], ids=["nowait", "wait"])


def retry_dag(wait: bool) -> str:
    return f"mimecast_test_upload_retry_{'wait' if wait else 'nowait'}"


@NO_WAIT_AND_WAIT
@pytest.mark.parametrize("answer", sorted(AMBIGUOUS_UPLOADS))
def test_an_upload_mimecast_may_have_accepted_fails_without_airflow_retrying_it(
    connections, answer, wait, variables_written
):
    connections.inject(AMBIGUOUS_UPLOADS[answer])
    dag_run = run(retry_dag(wait))
    assert states(dag_run) == {"import_users": "failed"}
    assert try_number(dag_run) == 1  # retries=1 was not used
    wait_until(connections.import_ids, timeout=10)  # a slow upload lands after its client gave up
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert len(connections.import_ids()) == 1
    kept = kept_record(dag_run)  # kept for a later try, which refuses to upload again
    assert kept is not None and (kept["import_id"], kept["try_number"]) == ("", 1)
    assert variables_written == ([] if TASK_STATE else ["set"])


def test_clearing_a_failed_task_keeps_its_record_so_its_next_try_refuses(connections, capfd):
    """Airflow's clear (what the UI's Clear does) leaves the record: Variables never were cleared, and on
    3.3 task state is not either (clear_task_instances does not touch it; only deleting the DAG run does)."""
    from airflow import settings
    from airflow.models.taskinstance import clear_task_instances

    connections.inject(AMBIGUOUS_UPLOADS["server_error"])
    dag_run = run(retry_dag(False))
    assert states(dag_run) == {"import_users": "failed"} and kept_record(dag_run) is not None
    with settings.Session() as session:
        tis = [ti for ti in dag_run.get_task_instances(session=session) if ti.task_id == "import_users"]
        clear_task_instances(tis, session)
        session.commit()
    assert states(dag_run) == {"import_users": "None"}
    kept = kept_record(dag_run)  # on 3.3 in task state, and still no Variable
    assert kept is not None and kept["import_id"] == ""
    if not TASK_STATE:
        # Before 3.3 the record is the Variable, which nothing clears; and their dag.test() has no public way
        # to run the cleared task instance of an existing run (3.0-3.2's private one fails on its dates).
        return
    # Run the cleared task instance as dag.test() runs a scheduled one: its next try refuses to upload.
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.state import TaskInstanceState

    with settings.Session() as session:
        [ti] = [ti for ti in dag_run.get_task_instances(session=session) if ti.task_id == "import_users"]
        ti.try_number += 1
        ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        dag = dag_bag_of_tests().get_dag(retry_dag(False))
        _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
    assert states(dag_run) == {"import_users": "failed"}
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert "Not uploading again, to avoid a duplicate import" in capfd.readouterr().out


@NO_WAIT_AND_WAIT
def test_an_upload_refused_with_429s_beyond_the_hooks_retries_is_retried_by_airflow_once(connections, wait):
    # Two 429s outlast the hook's one retry: Mimecast executed neither, so Airflow's retry uploads.
    connections.inject(Fault("rate_limit", path=IMPORT_USERS_PATH, reset_ms=10, times=2))
    dag_run = run(retry_dag(wait))
    assert states(dag_run) == {"import_users": "success"}
    assert try_number(dag_run) == 2
    assert [r.response_status for r in connections.requests_to(IMPORT_USERS_PATH)] == [429, 429, 200]
    [import_id] = connections.import_ids()
    assert xcom(dag_run, "import_users", key="import_id") == import_id
    assert retry_record(dag_run) is None


@NO_WAIT_AND_WAIT
def test_an_upload_whose_connection_was_refused_is_retried_by_airflow_once(connections, monkeypatch, wait):
    MimecastHook().test_connection()  # a cached bearer token: the upload itself meets the refusal
    real_import_users = MimecastHook.import_users
    tries: list[int] = []

    def refused_in_the_first_try(self: MimecastHook, *args: Any, **kwargs: Any) -> str:
        tries.append(len(tries) + 1)
        if len(tries) > 1:
            return real_import_users(self, *args, **kwargs)
        connections.stop()  # nothing listens on the port: every connection is refused
        try:
            return real_import_users(self, *args, **kwargs)
        finally:
            connections.start()

    monkeypatch.setattr(MimecastHook, "import_users", refused_in_the_first_try)
    dag_run = run(retry_dag(wait))
    assert states(dag_run) == {"import_users": "success"}
    assert (try_number(dag_run), tries) == (2, [1, 2])
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert len(connections.import_ids()) == 1
    assert retry_record(dag_run) is None


@pytest.mark.skipif(
    AIRFLOW_2,
    reason="Airflow 2's AirflowTaskTimeout is a BaseException that escapes dag.test() instead of being "
    "retried (a real worker retries it)",
)
@NO_WAIT_AND_WAIT
@pytest.mark.parametrize("again", [False, True], ids=["refuse", "retry_ambiguous_failures"])
def test_a_try_after_an_upload_cut_off_by_execution_timeout(monkeypatch, wait, again, variables_written):
    # Imports that complete at once, so that the second try's wait fits in its execution_timeout (1 s, or
    # 2 s where it uploads again); the first try's upload hangs past it.
    with MimecastSimulator(pending_seconds=0, processing_seconds=0) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        sim.inject(Fault("latency", path=IMPORT_USERS_PATH, delay=2.5 if again else 1.5))
        suffix = ("wait" if wait else "nowait") + ("_again" if again else "")
        dag_run = run(f"mimecast_test_upload_interrupted_{suffix}")
        # The upload cut off in the first try still lands in Mimecast.
        wait_until(lambda: len(sim.import_ids()) == (2 if again else 1), timeout=10)
        uploads = len(sim.requests_to(IMPORT_USERS_PATH))
    assert try_number(dag_run) == 2
    if again:  # uploaded again on purpose: the duplicate retry_ambiguous_failures accepts
        assert (states(dag_run), uploads) == ({"import_users": "success"}, 2)
        assert retry_record(dag_run) is None
    else:
        assert (states(dag_run), uploads) == ({"import_users": "failed"}, 1)
        kept = kept_record(dag_run)
        assert kept is not None and (kept["import_id"], kept["try_number"]) == ("", 1)
    # 3.0 to 3.2: the intent, then (uploading again) the intent, the ID and the deletion on success.
    assert variables_written == ([] if TASK_STATE else ["set", "set", "set", "delete"] if again else ["set"])


def test_a_variable_record_from_before_an_upgrade_to_task_state_is_still_honoured(
    connections, monkeypatch, capfd
):
    """Try 1 runs on an Airflow without task state (2.11 to 3.2): it records its upload and the import's ID
    in the Variable, then its worker is lost. Try 2 runs on 3.3 after the upgrade: it resumes that import.
    """
    from airflow.providers.common.compat.sdk import get_current_context

    from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator
    from airflow_provider_mimecast.operators.record_store import RetryRecordStore, VariableBackend
    from airflow_provider_mimecast.operators.retry_record import retry_record_key
    from airflow_provider_mimecast.uploads import load_upload

    earlier = connections.create_import(total_users=2, successful_imported_users=2)
    real_group_id = MimecastImportUsersOperator._group_id
    tries: list[int] = []

    def first_try_before_the_upgrade(self: MimecastImportUsersOperator) -> str:
        tries.append(len(tries) + 1)
        if len(tries) > 1:
            return real_group_id(self)
        ti = get_current_context()["ti"]
        upload = load_upload(self.source)
        # What this version writes where Airflow offers no task state: the Variable record, with the ID.
        variable = VariableBackend(retry_record_key(ti.dag_id, ti.task_id, ti.run_id, ti.map_index))
        RetryRecordStore(backend=variable, log=self.log).write(
            RetryRecord(
                import_id=earlier,
                sha256=hashlib.sha256(upload.content).hexdigest(),
                size=len(upload.content),
                arguments=self._arguments(upload, "grp-1"),
                try_number=1,
            )
        )
        raise RuntimeError("the worker was lost")

    monkeypatch.setattr(MimecastImportUsersOperator, "_group_id", first_try_before_the_upgrade)
    dag_run = run(retry_dag(True))
    assert states(dag_run) == {"import_users": "success"}
    assert (try_number(dag_run), tries) == (2, [1, 2])
    assert connections.requests_to(IMPORT_USERS_PATH) == [] and connections.import_ids() == [earlier]
    assert xcom(dag_run, "import_users", key="import_id") == earlier == xcom(dag_run, "import_users")["id"]
    output = capfd.readouterr().out
    assert "resuming it instead of uploading again" in output
    assert ("(written before Airflow offered task state): honouring it" in output) == TASK_STATE
    assert variable_record(dag_run) is None and task_state_record(dag_run) is None  # both deleted on success


# -- issue 14.2: mapped uploads feed one sensor --------------------------------------------------------------


def task_states(dag_run: Any) -> list[tuple[str, int, str]]:
    """(task ID, map index, state) of every task instance, mapped ones included, in that order."""
    tis = sorted(dag_run.get_task_instances(), key=lambda ti: (ti.task_id, ti.map_index))
    return [(ti.task_id, ti.map_index, str(getattr(ti.state, "value", ti.state))) for ti in tis]


@pytest.mark.parametrize("mode", ["poke", "deferrable", "native"])
def test_mapped_uploads_feed_one_sensor_and_one_status_read(connections, mode):
    dag_run = run(f"mimecast_test_mapped_{mode}")
    each = [("wait_each", index, "success") for index in range(3)] if mode == "deferrable" else []
    assert task_states(dag_run) == [
        *(("start", index, "success") for index in range(3)),
        ("status", -1, "success"),
        ("wait", -1, "success"),
        *each,
    ]
    [wait] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "wait"]
    started = [wait.xcom_pull(task_ids="start", map_indexes=index) for index in range(3)]
    assert sorted(started) == sorted(connections.import_ids())
    for task_id in ("wait", "status"):
        result = xcom(dag_run, task_id)
        assert [(item["id"], item["totalUsers"]) for item in result] == list(
            zip(started, [1, 2, 1], strict=True)
        )
    if mode == "deferrable":
        each_ids = [wait.xcom_pull(task_ids="wait_each", map_indexes=index)["id"] for index in range(3)]
        assert each_ids == started
    else:
        assert set(connections.status_request_sizes()) == {3}  # every check asked for all three
    for index in range(3):
        assert retry_record(dag_run, "start", index) is None  # each upload's record, deleted on success


def test_mapped_ids_rendered_as_text_are_refused_before_any_status_request(connections):
    dag_run = run("mimecast_test_mapped_text")
    assert task_states(dag_run)[3:] == [("status", -1, "upstream_failed"), ("wait", -1, "failed")]
    assert connections.requests_to(GET_IMPORT_STATUS_PATH) == []


# -- issue 14.6: a long rate limit or an outage does not fail a wait that costs no worker ------------------


def client(request: Any) -> str:
    """Which HTTP client sent a request: the worker's (requests, which names itself) or the triggerer's."""
    return "worker" if request.headers.get("user-agent", "").startswith("python-requests/") else "triggerer"


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_rate_limit_longer_than_max_rate_limit_wait_is_waited_out_until_it_resets(monkeypatch, mode):
    with MimecastSimulator(pending_seconds=0, processing_seconds=0) as sim:
        monkeypatch.setenv(
            "AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url, max_rate_limit_wait=0.5)
        )
        import_id = sim.create_import()
        # Mimecast takes calls again in 1 s: longer than the 0.5 s a task may sleep on one 429.
        sim.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=1000))
        started = time.monotonic()
        dag_run = run(f"mimecast_test_wait_{mode}", import_id=import_id)
        waited = time.monotonic() - started
        answers = [r.response_status for r in sim.requests_to(GET_IMPORT_STATUS_PATH)]
    assert states(dag_run) == {"wait": "success"} and try_number(dag_run, "wait") == 1
    assert answers == [429, 200] and waited >= 1.0  # checked again when the limit reset, not before


@pytest.mark.parametrize(("mode", "state"), [("poke", "failed"), ("reschedule", "success")])
def test_an_outage_beyond_the_hooks_retries_fails_only_a_wait_that_holds_a_worker(connections, mode, state):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(Fault("server_error", path=GET_IMPORT_STATUS_PATH, status=503, times=2))
    dag_run = run(f"mimecast_test_wait_{mode}", import_id=import_id)
    assert states(dag_run) == {"wait": state}
    answers = [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)]
    assert answers == ([503, 503] if state == "failed" else [503, 503, 200])


#: What the worker's check before deferring runs into: a 429 (with a reset the worker used to sleep
#: through), or 503s that outlast the hook's one retry.
FIRST_CHECK_FAILURES = {
    "rate_limit": [Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=5000)],
    "outage": [Fault("server_error", path=GET_IMPORT_STATUS_PATH, status=503, times=2)],
}


@pytest.mark.parametrize("failure", sorted(FIRST_CHECK_FAILURES))
@pytest.mark.parametrize(
    "dag_id", ["mimecast_test_wait_deferrable", "mimecast_test_import_and_wait_deferrable_one_retry"]
)
def test_a_deferrable_wait_defers_through_a_rate_limit_or_outage_at_its_first_check(
    connections, dag_id, failure
):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(*FIRST_CHECK_FAILURES[failure])
    dag_run = run(dag_id, import_id=import_id)
    assert set(states(dag_run).values()) == {"success"}
    checks = [(r.response_status, client(r)) for r in connections.requests_to(GET_IMPORT_STATUS_PATH)]
    failed = [429] if failure == "rate_limit" else [503, 503]
    # The worker did not sleep through the rate limit nor fail on the outage: the triggerer checked next.
    assert checks[: len(failed)] == [(status, "worker") for status in failed]
    assert {who for _, who in checks[len(failed) :]} == {"triggerer"} and checks[-1][0] == 200


# -- issue 14.7: soft_fail and never_fail mean the same in every mode ----------------------------------------

#: Expected state per flag and case; the case's sensor DAG is "short" (a 0.5 s timeout) for the timeout.
SKIP_RULES = {
    ("soft_fail", "timeout"): "skipped",
    ("soft_fail", "error_at_first_check"): "failed",
    ("soft_fail", "error_later"): "failed",
    ("never_fail", "timeout"): "failed",
    ("never_fail", "error_at_first_check"): "skipped",
    ("never_fail", "error_later"): "skipped",
}


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
@pytest.mark.parametrize(("flag", "case"), sorted(SKIP_RULES))
def test_soft_fail_skips_on_timeout_and_never_fail_on_errors_in_every_mode(connections, mode, flag, case):
    if mode == "reschedule" and case == "timeout" and RESCHEDULE_TIMEOUTS_BROKEN:
        pytest.skip(
            "Airflow 3.0's dag.test() cannot time out a rescheduled sensor (see RESCHEDULE_TIMEOUTS_BROKEN)"
        )
    if case == "error_at_first_check":
        import_id = "no-such-import"  # a fail entry
    else:
        import_id = connections.create_import(pending_seconds=600)
    if case == "error_later":
        # The first check goes through; every later one (deferrable: the trigger's) is refused.
        connections.inject(
            Fault("latency", path=GET_IMPORT_STATUS_PATH),
            Fault("binding_expired", path=GET_IMPORT_STATUS_PATH, times=100),
        )
    started = time.monotonic()
    length = "short" if case == "timeout" else "long"
    dag_run = run(f"mimecast_test_{flag}_{length}_{mode}", import_id=import_id)
    assert states(dag_run) == {"wait": SKIP_RULES[flag, case]}
    assert time.monotonic() - started < 60  # errors end the wait at once, not at the 600 s timeout
    checks = len(connections.requests_to(GET_IMPORT_STATUS_PATH))
    assert checks >= (1 if case == "error_at_first_check" else 2)


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_no_status_request_carries_more_than_status_batch_size_ids(unfinished_at_first_check, mode):
    # The simulator refuses more than 10 IDs in one call, as Mimecast's reference documents. Every import
    # is pending at its first check, however late that comes, and completed at the next.
    sim = unfinished_at_first_check
    ids = [sim.create_import(total_users=n + 1) for n in range(25)]
    dag_run = run(f"mimecast_test_many_ids_{mode}", import_ids=ids)
    assert states(dag_run) == {"wait": "success", "get_status": "success"}
    sizes = sim.status_request_sizes()
    assert max(sizes) == 10 and sum(sizes) >= 2 * len(ids)
    assert [s["id"] for s in xcom(dag_run, "wait")] == ids
    assert [s["totalUsers"] for s in xcom(dag_run, "get_status")] == list(range(1, 26))


@pytest.mark.parametrize("mode", ["poke", RESCHEDULED_MORE_THAN_ONCE])
def test_a_sensor_keeps_waiting_while_answers_leave_its_import_out(connections, mode):
    left_out, other = connections.create_import(), connections.create_import()
    connections.inject(Fault("omit_ids", path="/api/user/get-import-status", import_ids=(left_out,), times=4))
    dag_run = run(f"mimecast_test_many_ids_{mode}", import_ids=[left_out, other])
    assert states(dag_run) == {"wait": "success", "get_status": "success"}
    # Left out of two checks (each asked again once), then seen completed.
    assert connections.status_request_sizes()[:4] == [2, 1, 2, 1]
    assert [s["id"] for s in xcom(dag_run, "wait")] == [left_out, other]


@pytest.mark.parametrize("mode", ["poke", RESCHEDULED_MORE_THAN_ONCE])
def test_an_import_never_in_the_answers_times_out_and_is_never_a_success(connections, mode):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(
        Fault("omit_ids", path="/api/user/get-import-status", import_ids=(import_id,), times=10**6)
    )
    dag_run = run(f"mimecast_test_unseen_{mode}", import_id=import_id)
    assert states(dag_run) == {"wait": "failed"}
    assert try_number(dag_run, "wait") == 1
    assert (
        len(connections.requests_to("/api/user/get-import-status")) >= 4
    )  # it kept asking until the timeout


def test_the_import_operator_finds_its_group_by_folder_path(connections):
    emea = next(g for g in connections.groups() if g.name == "EMEA")
    sales = next(g for g in connections.groups() if g.name == "Sales" and g.parent_id == emea.id)
    connections.inject(Fault(**HANGING_STATUS_CHECK))  # the waiting task's first try times out
    dag_run = run("mimecast_test_import_by_group_name", group_name="EMEA/Sales")
    assert states(dag_run) == {"import_users": "success", "import_and_wait": "success"}
    assert try_number(dag_run, "import_and_wait") == 2
    uploads = connections.requests_to(IMPORT_USERS_PATH)
    assert len(uploads) == 2  # one per task: the retry resumed its import
    assert {json.loads(r.headers["x-mc-arg"])["data"][0]["groupId"] for r in uploads} == {sales.id}
    assert retry_record(dag_run, "import_and_wait") is None


@pytest.mark.parametrize("group_name", ["Sales", "sales", "Nowhere/Sales"])
def test_a_group_name_matching_none_or_several_fails_before_any_upload(connections, group_name):
    dag_run = run("mimecast_test_import_by_group_name", group_name=group_name)
    assert states(dag_run) == {"import_users": "failed", "import_and_wait": "failed"}
    assert try_number(dag_run, "import_and_wait") == 2  # Airflow's retry looked again, and uploaded nothing
    assert connections.requests_to(IMPORT_USERS_PATH) == []


# -- issue 17: waiting that costs no worker ---------------------------------------------------------------


@pytest.mark.parametrize("option", ["end_from_trigger", "no_check", "both"])
def test_the_options_keep_the_sensors_result(unfinished_at_first_check, option):
    # The first check (the worker's, where there is one) finds the import unfinished however late the
    # task starts, so that the wait defers.
    sim = unfinished_at_first_check
    dag_run = run(f"mimecast_test_sensor_{option}")
    assert states(dag_run) == {"start": "success", "wait": "success"}
    [import_id] = sim.import_ids()
    result = xcom(dag_run, "wait")
    assert (result["id"], result["status"], result["totalUsers"]) == (import_id, "completed", 2)
    checks = {client(r) for r in sim.requests_to(GET_IMPORT_STATUS_PATH)}
    # check_before_deferring=False: no status request (nor token) from the worker, only the triggerer's.
    assert checks == ({"worker", "triggerer"} if option == "end_from_trigger" else {"triggerer"})


def test_a_deferred_import_without_a_check_first_keeps_its_result_and_cleans_up_its_record(
    unfinished_at_first_check, variables_written
):
    sim = unfinished_at_first_check
    dag_run = run("mimecast_test_import_and_wait_no_check")
    assert states(dag_run) == {"import_users": "success"}
    [import_id] = sim.import_ids()
    assert xcom(dag_run, "import_users", key="import_id") == import_id
    final = xcom(dag_run, "import_users")
    assert (final["id"], final["status"], final["successfulImportedUsers"]) == (import_id, "completed", 2)
    assert retry_record(dag_run) is None
    # The task resumed on a worker deleted its record, which on 3.3 lives in task state: no Variable.
    assert variables_written == ([] if TASK_STATE else ["set", "set", "delete"])
    # check_before_deferring=False: no status request (nor token) from the worker, only the triggerer's.
    assert {client(r) for r in sim.requests_to(GET_IMPORT_STATUS_PATH)} == {"triggerer"}


@pytest.mark.parametrize("option", ["end_from_trigger", "both"])
@pytest.mark.parametrize(("flag", "case"), sorted(SKIP_RULES))
def test_soft_fail_and_never_fail_mean_the_same_when_the_triggerer_ends_the_task(
    connections, option, flag, case
):
    if case == "error_at_first_check":
        import_id = "no-such-import"  # a fail entry, at the worker's check or the trigger's first
    else:
        import_id = connections.create_import(pending_seconds=600)
    if case == "error_later":
        connections.inject(
            Fault("latency", path=GET_IMPORT_STATUS_PATH),
            Fault("binding_expired", path=GET_IMPORT_STATUS_PATH, times=100),
        )
    length = "short" if case == "timeout" else "long"
    dag_run = run(f"mimecast_test_{flag}_{length}_{option}", import_id=import_id)
    assert states(dag_run) == {"wait": SKIP_RULES[flag, case]}


def test_a_sensor_asked_to_start_in_the_triggerer_still_waits_where_dag_test_runs_it(connections):
    import_id = connections.create_import(pending_seconds=0, processing_seconds=0)
    dag_run = run("mimecast_test_start_from_trigger", import_id=import_id)
    assert states(dag_run) == {"wait": "success"} and xcom(dag_run, "wait")["id"] == import_id


END_FROM_TRIGGER_DAG = """
from datetime import datetime
from airflow.providers.common.compat.sdk import DAG
from airflow_provider_mimecast.sensors.import_status import MimecastImportStatusSensor

with DAG(dag_id="ends_in_the_triggerer", schedule=None, start_date=datetime(2026, 1, 1)):
    MimecastImportStatusSensor(task_id="wait", import_id="x", deferrable=True, end_from_trigger=True)
"""


class _Listener:
    """A listener as OpenLineage or a plugin registers one."""

    from airflow.listeners import hookimpl

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any, *args: Any) -> None: ...


def test_end_from_trigger_with_a_listener_registered_fails_the_dag_import_saying_what_to_do(tmp_path):
    from airflow.listeners.listener import get_listener_manager

    (tmp_path / "dag_ending_in_the_triggerer.py").write_text(END_FROM_TRIGGER_DAG)
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    manager = get_listener_manager()
    listener = _Listener()
    manager.add_listener(listener)
    try:
        bag = DagBag(dag_folder=str(tmp_path))
    finally:
        manager.pm.unregister(listener)
    [error] = bag.import_errors.values()
    assert (
        "'wait' has end_from_trigger=True, but Airflow listeners are registered (tests.test_dags._Listener)"
        in error
    )
    assert "Set end_from_trigger=False on this task" in error
    # Without the listener the same file parses.
    assert DagBag(dag_folder=str(tmp_path)).import_errors == {}


# -- issue 25: the import result on asset (dataset) events -------------------------------------------------


def asset_events(dag_run: Any) -> dict[str, dict[str, Any]]:
    """The extra of each asset event (dataset event on 2.11) the run's tasks emitted, by task and asset
    name, read from the metadata database."""
    from airflow import settings
    from sqlalchemy import select

    try:
        from airflow.models.asset import AssetEvent as Event
    except ImportError:  # Airflow 2: datasets
        from airflow.models.dataset import DatasetEvent as Event  # type: ignore[no-redef]
    events: dict[str, dict[str, Any]] = {}
    with settings.Session() as session:
        query = select(Event).where(
            Event.source_dag_id == dag_run.dag_id, Event.source_run_id == dag_run.run_id
        )
        for event in session.scalars(query):
            asset = getattr(event, "asset", None) or event.dataset
            events[f"{event.source_task_id}:{asset.uri}"] = event.extra
    return events


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_asset_events_carry_the_import_result(connections, mode):
    if AIRFLOW_2 or AIRFLOW_3_0:
        # 2.11's and 3.0's dag.test() record an event only for an asset (dataset) active in the database,
        # which a deployment's DAG parsing writes there (3.0 fails the task on an inactive one).
        dag = dag_bag_of_tests().get_dag(f"mimecast_test_outlets_{mode}")
        if AIRFLOW_2:
            dag.sync_to_db()
        else:
            from airflow.dag_processing.bundles.manager import DagBundlesManager
            from airflow.models.dag import DAG as SchedulerDAG
            from airflow.serialization.serialized_objects import SerializedDAG

            DagBundlesManager().sync_bundles_to_db()
            scheduler_dag = SerializedDAG.deserialize_dag(SerializedDAG.serialize_dag(dag))
            SchedulerDAG.bulk_write_to_db("mimecast_test_dags", None, [scheduler_dag])
    dag_run = run(f"mimecast_test_outlets_{mode}")
    assert states(dag_run) == {"start": "success", "import_users": "success", "wait": "success"}
    started, imported = (xcom(dag_run, task, key="import_id") for task in ("start", "import_users"))
    [group] = [g.id for g in connections.groups() if g.name == "Directory Sync"]
    completed = {"status": "completed", "totalUsers": 2, "successfulImportedUsers": 2}
    imported_extra = {"id": imported, **completed, "groupId": group, "groupName": "Directory Sync"}
    assert asset_events(dag_run) == {
        # Started without waiting: the ID and the group; no status yet.
        "start:mimecast_test_started": {
            "id": started,
            "status": None,
            "totalUsers": None,
            "successfulImportedUsers": None,
            "groupId": "grp-1",
            "groupName": None,
        },
        "import_users:mimecast_test_imported": imported_extra,
        "import_users:mimecast_test_imported_too": imported_extra,
        "wait:mimecast_test_waited": {"id": started, **completed},
    }
