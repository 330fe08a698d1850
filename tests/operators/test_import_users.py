"""MimecastHook.import_users against the simulator, and the cases a real server cannot produce."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from airflow_provider_mimecast.errors import (
    MimecastApiError,
    MimecastConfigurationError,
    MimecastError,
    MimecastInvalidResponseError,
    MimecastServerError,
    MimecastUploadNotRetriedError,
)
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.status import ImportStatus
from airflow_provider_mimecast.testing.simulator import IMPORT_USERS_PATH, Fault, MimecastSimulator
from airflow_provider_mimecast.uploads import Upload
from tests.canned import canned_server, envelope
from tests.conftest import RecordingTaskInstance, oauth_connection, wait_until

ROWS = [
    {"email": "ada@example.com", "name": "Ada"},
    {"email": "linus@example.com", "name": "Linus"},
    {"email": "grace@example.com", "name": "Grace"},
]
#: Rows with one address Mimecast would refuse (the second).
ROWS_WITH_A_BAD_ADDRESS = [ROWS[0], {"email": "not-an-address", "name": "Bad"}, ROWS[2]]


def hook(conn_id: str = "mimecast_default", **kwargs) -> MimecastHook:
    return MimecastHook(conn_id, retry_delay=0.01, **kwargs)


@pytest.mark.parametrize("conn_id", ["mimecast_default", "mimecast_hmac"])
def test_import_sends_parameters_in_x_mc_arg_and_returns_the_new_id(connections, conn_id):
    import_id = hook(conn_id).import_users(
        ROWS, group_id="grp-1", notify_email_address="ops@example.com", allow_address_migration=True
    )
    [request] = connections.requests_to(IMPORT_USERS_PATH)
    assert json.loads(request.headers["x-mc-arg"]) == {
        "data": [
            {
                "groupId": "grp-1",
                "clearGroup": False,
                "allowAddressMigration": True,
                "fileType": "csv",
                "notifyEmailAddress": "ops@example.com",
            }
        ]
    }
    assert request.headers["content-type"] == "text/csv"
    assert request.body.endswith(b"\n") and request.body.count(b"\n") == 4
    assert connections.import_ids() == [import_id]
    [status] = hook(conn_id).get_import_status(import_id)
    assert (status.total_users, status.notify_email_address) == (3, "ops@example.com")


def completed(import_id: str) -> ImportStatus:
    def check() -> ImportStatus | None:
        [status] = hook().get_import_status(import_id)
        return status if status.status == "completed" else None

    return wait_until(check, timeout=10, interval=0.05)


def test_the_simulator_counts_rows_mimecast_rejects_once_completed(monkeypatch):
    # Mimecast rejects users for reasons a file check cannot see (an unknown accountCode, say).
    with MimecastSimulator(
        pending_seconds=0.1, processing_seconds=0.1, accept_row=lambda row: row["name"] != "Linus"
    ) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        status = completed(hook().import_users(ROWS, group_id="grp-1"))
    assert (status.successful_imported_users, status.total_users) == (2, 3)


def test_a_csv_file_without_trailing_newline_is_sent_with_one(connections, tmp_path):
    file = tmp_path / "users.csv"
    file.write_bytes(b"email,name\nada@example.com,Ada")
    hook().import_users(file, group_id="grp-1")
    [request] = connections.requests_to(IMPORT_USERS_PATH)
    assert request.body == b"email,name\nada@example.com,Ada\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (ROWS_WITH_A_BAD_ADDRESS, r"1 of 3 user rows .*\(row 2: 'not-an-address' is not an email address\)"),
        ([{"emailAddress": "ada@example.com", "name": "Ada"}], "rename the key to 'email'"),
        (b"emailAddress,name\nada@example.com,Ada\n", "found the header 'emailAddress' in cell A1"),
    ],
)
def test_a_file_mimecast_would_refuse_is_refused_before_any_request(connections, source, message):
    with pytest.raises(MimecastConfigurationError, match=message):
        hook().import_users(source, group_id="grp-1")
    assert connections.requests == []


def test_invalid_rows_drop_sends_the_other_rows(connections):
    import_id = hook().import_users(ROWS_WITH_A_BAD_ADDRESS, group_id="grp-1", invalid_rows="drop")
    [request] = connections.requests_to(IMPORT_USERS_PATH)
    assert request.body == b"email,name\nada@example.com,Ada\ngrace@example.com,Grace\n"
    status = completed(import_id)
    assert (status.successful_imported_users, status.total_users) == (2, 2)


def test_the_simulator_refuses_a_file_mimecast_could_not_read_even_unchecked(connections):
    # An Upload is sent as it is: what the provider's check stops, the simulator refuses as Mimecast would.
    unchecked = Upload(content=b"emailAddress,name\nada@example.com,Ada\n", file_type="csv", name="users.csv")
    with pytest.raises(MimecastApiError, match="err_validation_checkpoint_not_found"):
        hook().import_users(unchecked, group_id="grp-1")
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1 and connections.import_ids() == []


@pytest.mark.parametrize("group_id", ["", "  ", None])
def test_group_id_is_required_before_upload(connections, group_id):
    with pytest.raises(MimecastConfigurationError, match="group_id is required"):
        hook().import_users(ROWS, group_id=group_id)
    assert connections.requests == []


def test_an_empty_file_is_refused_before_upload(connections, tmp_path):
    file = tmp_path / "users.csv"
    file.write_bytes(b"")
    with pytest.raises(MimecastConfigurationError, match="is empty"):
        hook().import_users(file, group_id="grp-1")
    assert connections.requests == []


def test_a_group_mimecast_does_not_know_is_a_fail_entry(monkeypatch):
    with MimecastSimulator(group_ids={"known-group"}) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        with pytest.raises(MimecastApiError, match=r"err_group_not_found.*groupId"):
            hook().import_users(ROWS, group_id="other-group")
        assert sim.import_ids() == []


def test_a_server_error_after_upload_is_not_retried(connections):
    # The simulator creates the import and then answers 500: exactly what a blind retry would duplicate.
    connections.inject(Fault("server_error", path=IMPORT_USERS_PATH, status=500))
    with pytest.raises(
        MimecastUploadNotRetriedError, match="not retried, to avoid a duplicate import"
    ) as caught:
        hook().import_users(ROWS, group_id="grp-1")
    assert "retry_ambiguous_failures=True" in str(caught.value)
    assert isinstance(caught.value.__cause__, MimecastServerError)
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert len(connections.import_ids()) == 1


def test_a_read_timeout_after_upload_is_not_retried(connections):
    connections.inject(Fault("latency", path=IMPORT_USERS_PATH, delay=1.0))
    with pytest.raises(MimecastUploadNotRetriedError, match="ReadTimeout"):
        hook(timeout=0.3).import_users(ROWS, group_id="grp-1")
    # The simulator still executes the slow upload after the client gave up: the case a retry would
    # duplicate. A retry would have reached the simulator before the error was raised.
    wait_until(connections.import_ids, timeout=10)
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert len(connections.import_ids()) == 1


def test_opting_in_retries_and_may_duplicate(connections):
    connections.inject(Fault("server_error", path=IMPORT_USERS_PATH, status=503))
    import_id = hook().import_users(ROWS, group_id="grp-1", retry_ambiguous_failures=True)
    assert len(connections.import_ids()) == 2 and import_id in connections.import_ids()


def test_a_rate_limited_upload_was_not_executed_and_is_retried(connections):
    connections.inject(Fault("rate_limit", path=IMPORT_USERS_PATH, reset_ms=50))
    import_id = hook().import_users(ROWS, group_id="grp-1")
    assert connections.import_ids() == [import_id]
    assert [r.response_status for r in connections.requests_to(IMPORT_USERS_PATH)] == [429, 200]


def test_a_token_answer_without_access_token_names_the_keys(monkeypatch):
    with canned_server({"/oauth/token": envelope()}) as url:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(url))
        with pytest.raises(
            MimecastInvalidResponseError, match=r"no access_token \(keys: \['data', 'fail', 'meta'\]\)"
        ):
            hook().import_users(ROWS, group_id="grp-1")


def test_a_missing_import_id_names_the_keys_that_came_back(monkeypatch):
    # The response schema of import-users is not published; the ID is expected in data[0].id. An answer
    # without it may still have started an import: not retried, by the hook or by Airflow.
    with canned_server({IMPORT_USERS_PATH: envelope({"importId": "x", "status": "ok"})}) as url:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(url))
        with pytest.raises(
            MimecastUploadNotRetriedError, match=r"data\[0\] keys \['importId', 'status'\]"
        ) as caught:
            hook().import_users(ROWS, group_id="grp-1")
    assert isinstance(caught.value.__cause__, MimecastInvalidResponseError)


def test_a_failing_token_endpoint_is_retried_even_for_an_upload(connections):
    # The upload itself was never sent, so neither a retry nor a "may have been accepted" error applies.
    connections.inject(Fault("server_error", path="/oauth/token", status=503))
    import_id = hook().import_users(ROWS, group_id="grp-1")
    assert connections.import_ids() == [import_id]
    assert [r.response_status for r in connections.requests_to("/oauth/token")] == [503, 200]


def test_an_unreachable_token_endpoint_is_not_reported_as_a_possible_duplicate(connections):
    connections.inject(Fault("server_error", path="/oauth/token", status=503, times=10))
    with pytest.raises(MimecastServerError, match="/oauth/token"):
        hook(max_retries=1).import_users(ROWS, group_id="grp-1")
    assert connections.import_ids() == []


# -- what a retry of MimecastImportUsersOperator resumes (the DAG-level runs are in test_dags.py) ---------


def test_the_retry_record_key_is_unique_per_task_instance_and_fits_a_variable_key():
    from airflow_provider_mimecast.operators.retry_record import VARIABLE_PREFIX, retry_record_key

    base = ("dag", "task", "manual__2026-01-01T00:00:00+00:00", -1)
    others = [
        ("dag", "task", "manual__2026-01-01T00:00:00+00:00", 0),
        ("dag", "task", "manual__2026-01-01T00:00:00+00:00", 1),
        ("dag", "task", "manual__2026-01-02T00:00:00+00:00", -1),
        ("dag", "other_task", "manual__2026-01-01T00:00:00+00:00", -1),
        ("other_dag", "task", "manual__2026-01-01T00:00:00+00:00", -1),
        # Ambiguous if the parts were joined with a separator:
        ("dag_task", "x", "r", -1),
        ("dag", "task_x", "r", -1),
    ]
    keys = {retry_record_key(*identity) for identity in [base, *others]}
    assert len(keys) == len(others) + 1
    assert retry_record_key(*base) == retry_record_key(*base)
    assert retry_record_key("dag", "task", "run", None) == retry_record_key("dag", "task", "run", -1)
    longest = retry_record_key("d" * 250, "t" * 250, "r" * 250, 10**6)
    assert longest.startswith(VARIABLE_PREFIX) and len(longest) <= 250
    # A task on Airflow 3.0 cannot read, set or delete a Variable whose key holds a "/" (404).
    assert "/" not in longest


def started(import_id: str = "imp-1", content: bytes = b"a,b\n1,2\n", **arguments):
    import hashlib

    from airflow_provider_mimecast.operators.retry_record import RetryRecord

    return RetryRecord(
        import_id=import_id,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        arguments={"group_id": "grp-1", "clear_group": False, **arguments},
    )


def test_the_file_read_again_after_a_deferral_must_be_the_one_recorded():
    from airflow_provider_mimecast.operators.retry_record import RetryRecord, file_changed_since
    from airflow_provider_mimecast.uploads import load_upload

    upload = load_upload(b"email,name\na@example.com,A\n", file_type="csv")
    record = RetryRecord.before_upload(upload, {"group_id": "grp-1"}, try_number=2)
    assert (record.import_id, record.size, record.try_number, record.group_id) == (
        "",
        len(upload.content),
        2,
        "grp-1",
    )
    assert file_changed_since(record, upload) == "this task's record of its upload is gone"  # no ID yet
    assert file_changed_since(None, upload) == "this task's record of its upload is gone"
    imported = started(content=upload.content)
    assert file_changed_since(imported, upload) is None
    changed = load_upload(b"email,name\nb@example.com,B\n", file_type="csv")
    assert file_changed_since(imported, changed).startswith(
        f"it changed since the upload (then sha256 {imported.sha256}, now "
    )


def test_only_the_same_bytes_and_arguments_count_as_the_same_upload():
    first = started()
    assert first.same_upload(started(import_id=""))
    changed_file = started(content=b"a,b\n1,3\n")
    assert not first.same_upload(changed_file)
    assert first.difference(changed_file).startswith("the content differs (then sha256 ")
    other_group = started(group_id="grp-2")
    assert not first.same_upload(other_group)
    assert first.difference(other_group) == "the arguments differ (group_id: then 'grp-1', now 'grp-2')"


class InMemoryVariables:
    """Stands in for Airflow's Variable store where no task runner provides one (execute() called directly)."""

    def __init__(self, **values: str) -> None:
        self.values = dict(values)
        self.calls: list[str] = []
        self.written: list[str] = []

    def get(self, key, default=None):
        self.calls.append("get")
        return self.values.get(key, default)

    def set(self, key, value, description=None):
        self.calls.append("set")
        self.values[key] = value
        self.written.append(value)

    def delete(self, key):
        self.calls.append("delete")
        self.values.pop(key, None)


class TaskInstance:
    """The task instance fields the operator reads, and its XCom pushes."""

    def __init__(self, try_number: int = 1, **identity) -> None:
        self.dag_id, self.task_id = identity.get("dag_id", "dag"), identity.get("task_id", "import_users")
        self.run_id, self.map_index = identity.get("run_id", "run-1"), identity.get("map_index", -1)
        self.try_number = try_number
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


def waiting_operator(source=ROWS, **arguments):
    from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator

    return MimecastImportUsersOperator(
        task_id="import_users",
        source=source,
        group_id="grp-1",
        wait_for_completion=True,
        poll_interval=0.05,
        hook_params={"retry_delay": 0.01},
        **arguments,
    )


def test_a_variable_that_does_not_hold_a_retry_record_is_ignored(connections, monkeypatch, capfd):
    from airflow_provider_mimecast.operators import record_store, retry_record

    ti = TaskInstance(try_number=2)
    key = retry_record.retry_record_key(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
    store = InMemoryVariables(**{key: '{"import_id": ""}'})
    monkeypatch.setattr(record_store, "Variable", store)
    result = waiting_operator().execute({"ti": ti})
    [import_id] = connections.import_ids()
    assert result["id"] == ti.pushed["import_id"] == import_id
    assert f"Variable {key} does not hold a retry record" in capfd.readouterr().out
    # Read, the upload recorded before sending, its ID added, and the record deleted on success.
    assert store.calls == ["get", "set", "set", "delete"] and store.values == {}


def test_without_a_task_instance_identity_no_variable_is_touched(connections, monkeypatch, capfd):
    from airflow_provider_mimecast.operators import record_store

    class Bare:
        def xcom_push(self, key, value):
            pass

    store = InMemoryVariables()
    monkeypatch.setattr(record_store, "Variable", store)
    assert waiting_operator().execute({"ti": Bare()})["status"] == "completed"
    assert store.calls == []
    assert "a retry could not resume this import" in capfd.readouterr().out


def test_the_not_retried_error_fails_the_task_without_airflows_retry_and_is_a_mimecast_error():
    from airflow.providers.common.compat.sdk import AirflowFailException

    assert issubclass(MimecastUploadNotRetriedError, MimecastError)
    assert issubclass(MimecastUploadNotRetriedError, AirflowFailException)


@pytest.mark.parametrize(
    "fault",
    [Fault("redirect", path=IMPORT_USERS_PATH, status=307), Fault("empty", path=IMPORT_USERS_PATH)],
    ids=["redirect", "empty_200"],
)
def test_an_answer_that_does_not_say_whether_the_upload_was_accepted_is_not_retried(connections, fault):
    connections.inject(fault)
    with pytest.raises(
        MimecastUploadNotRetriedError, match="not retried, to avoid a duplicate import"
    ) as caught:
        hook().import_users(ROWS, group_id="grp-1")
    assert isinstance(caught.value.__cause__, MimecastInvalidResponseError)
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1


def recorded_intent(ti: TaskInstance, content_of: Any, **changes: Any) -> dict[str, str]:
    """A Variable store holding what a try interrupted mid-upload leaves: the upload without an ID."""
    from dataclasses import asdict, replace

    from airflow_provider_mimecast.operators import retry_record
    from airflow_provider_mimecast.uploads import load_upload

    intent = replace(
        started(import_id="", content=load_upload(content_of).content, **changes),
        started_at="2026-01-01T00:00:00+00:00",
        try_number=1,
    )
    key = retry_record.retry_record_key(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
    return {key: json.dumps(asdict(intent))}


def test_a_try_after_an_interrupted_upload_refuses_to_upload_again(connections, monkeypatch):
    from airflow_provider_mimecast.operators import record_store

    ti = TaskInstance(try_number=2)
    operator = waiting_operator()
    store = InMemoryVariables(**recorded_intent(ti, ROWS, **operator_arguments()))
    monkeypatch.setattr(record_store, "Variable", store)
    with pytest.raises(
        MimecastUploadNotRetriedError, match=r"Try 1 .* at 2026-01-01T00:00:00\+00:00"
    ) as caught:
        operator.execute({"ti": ti})
    assert "Mimecast console" in str(caught.value) and "retry_ambiguous_failures=True" in str(caught.value)
    assert connections.requests == [] and len(store.values) == 1  # kept: clearing the task refuses again


def test_retry_ambiguous_failures_uploads_again_after_an_interrupted_upload(connections, monkeypatch):
    from airflow_provider_mimecast.operators import record_store

    ti = TaskInstance(try_number=2)
    operator = waiting_operator()
    operator.retry_ambiguous_failures = True
    monkeypatch.setattr(
        record_store, "Variable", InMemoryVariables(**recorded_intent(ti, ROWS, **operator_arguments()))
    )
    assert operator.execute({"ti": ti})["id"] == ti.pushed["import_id"]
    assert len(connections.import_ids()) == 1


def test_an_interrupted_upload_of_other_content_does_not_stop_a_new_one(connections, monkeypatch):
    from airflow_provider_mimecast.operators import record_store

    ti = TaskInstance(try_number=2)
    store = InMemoryVariables(**recorded_intent(ti, ROWS[:1], **operator_arguments()))
    monkeypatch.setattr(record_store, "Variable", store)
    assert waiting_operator().execute({"ti": ti})["totalUsers"] == 3
    assert len(connections.import_ids()) == 1 and store.values == {}


def operator_arguments() -> dict[str, Any]:
    return {"notify_email_address": None, "allow_address_migration": False, "file_type": "csv"}


def test_dropped_rows_are_pushed_and_the_retry_record_digests_the_bytes_sent(connections, monkeypatch, capfd):
    import hashlib

    from airflow_provider_mimecast.operators import record_store

    store = InMemoryVariables()
    monkeypatch.setattr(record_store, "Variable", store)
    ti = TaskInstance()
    result = waiting_operator(ROWS_WITH_A_BAD_ADDRESS, invalid_rows="drop").execute({"ti": ti})
    [request] = connections.requests_to(IMPORT_USERS_PATH)
    assert b"not-an-address" not in request.body
    assert (result["totalUsers"], result["successfulImportedUsers"]) == (2, 2)
    assert ti.pushed["upload_rows"] == {
        "sent": 2,
        "dropped": 1,
        "dropped_rows": [{"row": 2, "email": "not-an-address", "problem": "is not an email address"}],
    }
    # Recorded before sending and again with the import's ID: both digest the bytes sent.
    intent, started = [json.loads(value) for value in store.written]
    assert (intent["import_id"], started["import_id"]) == ("", result["id"])
    for record in (intent, started):
        assert (record["sha256"], record["size"]) == (
            hashlib.sha256(request.body).hexdigest(),
            len(request.body),
        )
    assert "1 user row(s) of '<rows>' left out, with an address Mimecast would refuse (row 2: " in (
        capfd.readouterr().out
    )


def test_by_default_a_bad_row_fails_before_any_request_and_pushes_nothing(connections):
    ti = TaskInstance()
    with pytest.raises(MimecastConfigurationError, match="or pass invalid_rows='drop'"):
        waiting_operator(ROWS_WITH_A_BAD_ADDRESS).execute({"ti": ti})
    assert connections.requests == [] and ti.pushed == {}


def test_invalid_rows_is_checked_when_the_dag_is_parsed():
    with pytest.raises(MimecastConfigurationError, match="invalid_rows is 'skip'; use 'fail'"):
        waiting_operator(invalid_rows="skip")


def test_import_operator_warns_before_clearing_a_group(connections, capfd):
    from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator

    ti = RecordingTaskInstance()
    operator = MimecastImportUsersOperator(
        task_id="import_users",
        source=[{"email": "ada@example.com", "name": "Ada"}],
        group_id="grp-sales",
        clear_group=True,
        hook_params={"retry_delay": 0.01},
    )
    import_id = operator.execute({"ti": ti})
    assert ti.pushed["import_id"] == import_id
    assert ti.pushed["import_plan"]["add"] == 1 and ti.pushed["import_plan"]["remove"] == 0
    assert "clear_group=True: Mimecast empties group grp-sales before importing" in capfd.readouterr().out
    [request] = connections.requests_to("/api/user/import-users")
    assert json.loads(request.headers["x-mc-arg"])["data"][0]["clearGroup"] is True


@pytest.mark.parametrize(("argument", "value"), [("poll_interval", 0), ("timeout", -1)])
def test_import_operator_rejects_bad_wait_settings(argument, value):
    from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator

    with pytest.raises(ValueError, match=f"{argument} must be a positive number"):
        MimecastImportUsersOperator(task_id="i", source=b"x", group_id="g", **{argument: value})


@pytest.mark.parametrize("groups", [{}, {"group_id": "grp-1", "group_name": "Sales"}])
def test_import_operator_takes_exactly_one_of_group_id_and_group_name(groups):
    from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator

    with pytest.raises(MimecastConfigurationError, match=r"exactly one of group_id .* and group_name"):
        MimecastImportUsersOperator(task_id="start", source=b"email,name\na@example.com,A\n", **groups)


def test_the_record_in_task_state_never_expires():
    # Airflow compares the retention by identity with its NEVER_EXPIRE: a record outlives
    # [state_store] default_retention_days, so that clearing a task that failed long ago still refuses.
    context = pytest.importorskip("airflow.sdk.execution_time.context")
    if not hasattr(context, "NEVER_EXPIRE"):
        pytest.skip("task state arrived in Airflow 3.3")
    from airflow_provider_mimecast.operators.record_store import NEVER_EXPIRE

    assert NEVER_EXPIRE is context.NEVER_EXPIRE


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"remove_missing": True, "clear_group": True, "wait_for_completion": True}, "exclude each other"),
        ({"remove_missing": True}, "remove_missing=True needs wait_for_completion=True"),
        # The operator always ends on a worker: end_from_trigger is refused however the task waits, or not.
        *(
            (
                {**waits, "end_from_trigger": True},
                "end_from_trigger=True is not an option of this operator: its task always ends on a worker, "
                "since after a completed import it reads the group there",
            )
            for waits in (
                {"wait_for_completion": True, "deferrable": True},
                {"wait_for_completion": True, "deferrable": False},
                {"wait_for_completion": False, "deferrable": True},
                {},
            )
        ),
    ],
)
def test_sync_options_that_cannot_go_together_are_refused_when_the_dag_is_parsed(options, message):
    from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator

    with pytest.raises(MimecastConfigurationError, match=re.escape(message)):
        MimecastImportUsersOperator(
            task_id="sync", source=b"email,name\na@example.com,A\n", group_id="g", **options
        )


def test_dry_run_does_not_replace_airflows_own_dry_run_method():
    from airflow.providers.common.compat.sdk import BaseOperator

    from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator

    operator = MimecastImportUsersOperator(task_id="sync", source=b"x", group_id="g", dry_run=True)
    assert operator.plan_only is True
    # Airflow's own BaseOperator.dry_run() (2.11 and 3.1+; 3.0 has none) stays Airflow's.
    assert getattr(type(operator), "dry_run", None) is getattr(BaseOperator, "dry_run", None)
