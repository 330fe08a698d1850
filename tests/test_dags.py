"""End to end: DAGs run with dag.test() against the simulator, in one process (start-up is paid once)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mimecast.hooks.mimecast import IMPORT_USERS_PATH
from airflow_provider_mimecast.testing.simulator import Fault, MimecastSimulator
from tests.conftest import SECRETS, oauth_connection

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


def run(dag_id: str, **run_conf: Any) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    bag = DagBag(dag_folder=str(Path(__file__).parent / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id).test(run_conf=run_conf)


def test_example_dags_parse_without_errors():
    bag = dag_bag()
    assert bag.import_errors == {}
    assert {"example_mimecast_wait_for_import", "example_mimecast_directory_sync"} <= set(bag.dag_ids)


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_sensor_reaches_success_in_every_mode(monkeypatch, mode):
    # A timeline long enough that the sensor's first check, on a busy machine too, finds it unfinished.
    with MimecastSimulator(pending_seconds=1.5, processing_seconds=0.5) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        dag_run = run(f"mimecast_test_sensor_{mode}")
    assert states(dag_run) == {"start": "success", "wait": "success"}
    [import_id] = sim.import_ids()
    statuses = [json.loads(r.body)["data"][0]["id"] for r in sim.requests_to("/api/user/get-import-status")]
    assert len(statuses) >= 2 and set(statuses) == {import_id}  # it saw the import unfinished first
    result = xcom(dag_run, "wait")
    assert (result["id"], result["status"], result["totalUsers"]) == (import_id, "completed", 2)


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_timeout_with_soft_fail_skips(connections, mode):
    import_id = connections.create_import(pending_seconds=600)
    dag_run = run(f"mimecast_test_soft_fail_{mode}", import_id=import_id)
    assert states(dag_run) == {"wait": "skipped"}


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_unknown_import_fails_fast_even_with_soft_fail(connections, mode):
    started = time.monotonic()
    dag_run = run(f"mimecast_test_fail_fast_{mode}", import_id="no-such-import")
    assert states(dag_run) == {"wait": "failed"}
    assert time.monotonic() - started < 60  # the sensor's timeout is 600 s


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
        "start_import": "success",
        "wait_for_import": "success",
        "check_counts": "success",
        "report_success": "success",
        "report_rejected_users": "skipped",
    }
    import_id = xcom(dag_run, "start_import", key="import_id")
    assert connections.import_ids() == [import_id]
    # The sample export has 8 active employees, one with a malformed address: left out before upload.
    [request] = connections.requests_to(IMPORT_USERS_PATH)
    # The group was found by name: its secure ID went to import-users.
    [group] = [g for g in connections.groups() if g.name == "Directory Sync"]
    assert json.loads(request.headers["x-mc-arg"])["data"][0]["groupId"] == group.id
    assert request.body.startswith(b"email,name\n") and b"edsger.dijkstra@example" not in request.body
    assert xcom(dag_run, "start_import", key="upload_rows") == {
        "sent": 7,
        "dropped": 1,
        "dropped_rows": [
            {"row": 5, "email": "edsger.dijkstra@example", "problem": "is not an email address"}
        ],
    }
    final = xcom(dag_run, "wait_for_import")
    assert (final["id"], final["totalUsers"], final["successfulImportedUsers"]) == (import_id, 7, 7)
    assert xcom(dag_run, "report_success") == (
        "Directory sync complete: 7 users imported; 1 HR row left out before upload "
        "('edsger.dijkstra@example' is not an email address)"
    )


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
    assert started_import(dag_run) is None  # deleted on success, after a deferral too


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


def started_import(dag_run: Any, task_id: str = "import_users") -> dict[str, Any] | None:
    """The task instance's started-import Variable, read from the metadata database (None if absent)."""
    from airflow import settings
    from airflow.models.variable import Variable as VariableRow
    from sqlalchemy import select

    from airflow_provider_mimecast.operators.import_users import started_import_key

    key = started_import_key(dag_run.dag_id, task_id, dag_run.run_id, -1)
    with settings.Session() as session:
        row = session.scalar(select(VariableRow).where(VariableRow.key == key))
        return None if row is None else json.loads(row.val)


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
    connections.inject(Fault(**HANGING_STATUS_CHECK))
    dag_run = run(f"mimecast_test_import_retry_{timeout_kind}", path=str(source))
    assert states(dag_run) == {"import_users": "success"}
    assert try_number(dag_run) == 2  # the first try really timed out
    [import_id] = connections.import_ids()
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert xcom(dag_run, "import_users", key="import_id") == import_id
    final = xcom(dag_run, "import_users")
    assert (final["id"], final["status"], final["totalUsers"]) == (import_id, "completed", 2)
    assert "resuming it instead of uploading again" in capfd.readouterr().out
    assert started_import(dag_run) is None  # cleaned up on success


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
    assert started_import(dag_run) is None


class _FailingVariable:
    """Airflow's Variable, except that the named methods raise as an unreachable metadata store would."""

    def __init__(self, real: Any, *failing: str) -> None:
        self.real, self.failing = real, failing

    def __getattr__(self, name: str) -> Any:
        if name in self.failing:

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("the metadata store is unreachable")

            return fail
        return getattr(self.real, name)


def test_a_variable_that_cannot_be_written_loses_neither_the_import_nor_its_id(
    connections, capfd, monkeypatch
):
    from airflow_provider_mimecast.operators import import_users

    monkeypatch.setattr(import_users, "Variable", _FailingVariable(import_users.Variable, "set"))
    dag_run = run("mimecast_test_import_and_wait_poke")
    assert states(dag_run) == {"import_users": "success"}
    [import_id] = connections.import_ids()
    assert xcom(dag_run, "import_users", key="import_id") == import_id
    assert xcom(dag_run, "import_users")["id"] == import_id
    output = capfd.readouterr().out
    assert f"MIMECAST IMPORT {import_id} STARTED, but recording it in Variable" in output
    assert "start a DUPLICATE import" in output


def test_a_retry_that_cannot_read_the_variable_fails_rather_than_upload_again(
    connections, tmp_path, capfd, monkeypatch
):
    from airflow_provider_mimecast.operators import import_users

    monkeypatch.setattr(import_users, "Variable", _FailingVariable(import_users.Variable, "get"))
    connections.inject(Fault(**HANGING_STATUS_CHECK))
    dag_run = run("mimecast_test_import_retry_read_timeout", path=str(source := users_file(tmp_path, "Ada")))
    assert states(dag_run) == {"import_users": "failed"}
    assert try_number(dag_run) == 2
    [import_id] = connections.import_ids()
    assert "Not uploading, to avoid a duplicate import" in capfd.readouterr().out
    # Kept after the final failure (clearing the task would resume it), and holding no secret.
    kept = started_import(dag_run)
    assert kept is not None
    assert (kept["import_id"], kept["sha256"]) == (import_id, hashlib.sha256(source.read_bytes()).hexdigest())
    assert not any(secret in json.dumps(kept) for secret in SECRETS)


def test_a_variable_that_cannot_be_deleted_does_not_fail_the_finished_task(connections, capfd, monkeypatch):
    from airflow_provider_mimecast.operators import import_users

    monkeypatch.setattr(import_users, "Variable", _FailingVariable(import_users.Variable, "delete"))
    dag_run = run("mimecast_test_import_and_wait_poke")
    assert states(dag_run) == {"import_users": "success"}
    [import_id] = connections.import_ids()
    assert xcom(dag_run, "import_users")["id"] == import_id
    assert "Could not delete Variable mimecast_import_users/" in capfd.readouterr().out
    assert started_import(dag_run)["import_id"] == import_id  # left behind, as the warning says


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_no_status_request_carries_more_than_status_batch_size_ids(monkeypatch, mode):
    # The simulator refuses more than 10 IDs in one call, as Mimecast's reference documents.
    with MimecastSimulator(pending_seconds=0.5, processing_seconds=0.5) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        ids = [sim.create_import(total_users=n + 1) for n in range(25)]
        dag_run = run(f"mimecast_test_many_ids_{mode}", import_ids=ids)
    assert states(dag_run) == {"wait": "success", "get_status": "success"}
    sizes = sim.status_request_sizes()
    assert max(sizes) == 10 and sum(sizes) >= 2 * len(ids)
    assert [s["id"] for s in xcom(dag_run, "wait")] == ids
    assert [s["totalUsers"] for s in xcom(dag_run, "get_status")] == list(range(1, 26))


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_sensor_keeps_waiting_while_answers_leave_its_import_out(connections, mode):
    left_out, other = connections.create_import(), connections.create_import()
    connections.inject(Fault("omit_ids", path="/api/user/get-import-status", import_ids=(left_out,), times=4))
    dag_run = run(f"mimecast_test_many_ids_{mode}", import_ids=[left_out, other])
    assert states(dag_run) == {"wait": "success", "get_status": "success"}
    # Left out of two checks (each asked again once), then seen completed.
    assert connections.status_request_sizes()[:4] == [2, 1, 2, 1]
    assert [s["id"] for s in xcom(dag_run, "wait")] == [left_out, other]


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
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
    assert started_import(dag_run, "import_and_wait") is None


@pytest.mark.parametrize("group_name", ["Sales", "sales", "Nowhere/Sales"])
def test_a_group_name_matching_none_or_several_fails_before_any_upload(connections, group_name):
    dag_run = run("mimecast_test_import_by_group_name", group_name=group_name)
    assert states(dag_run) == {"import_users": "failed", "import_and_wait": "failed"}
    assert try_number(dag_run, "import_and_wait") == 2  # Airflow's retry looked again, and uploaded nothing
    assert connections.requests_to(IMPORT_USERS_PATH) == []
