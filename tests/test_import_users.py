"""MimecastHook.import_users against the simulator, and the cases a real server cannot produce."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mimecast.errors import (
    MimecastApiError,
    MimecastConfigurationError,
    MimecastInvalidResponseError,
    MimecastServerError,
    MimecastUploadNotRetriedError,
)
from airflow_provider_mimecast.hooks.mimecast import IMPORT_USERS_PATH, MimecastHook
from airflow_provider_mimecast.status import ImportStatus
from airflow_provider_mimecast.testing.simulator import Fault, MimecastSimulator
from tests.canned import canned_server, envelope
from tests.conftest import oauth_connection, wait_until

ROWS = [
    {"emailAddress": "ada@example.com", "name": "Ada"},
    {"emailAddress": "not-an-address", "name": "Bad"},
    {"emailAddress": "grace@example.com", "name": "Grace"},
]


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


def test_the_simulator_counts_rejected_rows_once_completed(connections):
    import_id = hook().import_users(ROWS, group_id="grp-1")

    def completed() -> ImportStatus | None:
        [status] = hook().get_import_status(import_id)
        return status if status.status == "completed" else None

    status = wait_until(completed, timeout=10, interval=0.05)
    assert (status.successful_imported_users, status.total_users) == (2, 3)


def test_a_csv_file_without_trailing_newline_is_sent_with_one(connections, tmp_path):
    file = tmp_path / "users.csv"
    file.write_bytes(b"emailAddress,name\nada@example.com,Ada")
    hook().import_users(file, group_id="grp-1")
    [request] = connections.requests_to(IMPORT_USERS_PATH)
    assert request.body == b"emailAddress,name\nada@example.com,Ada\n"


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
    # The response schema of import-users is not published; the ID is expected in data[0].id.
    with canned_server({IMPORT_USERS_PATH: envelope({"importId": "x", "status": "ok"})}) as url:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(url))
        with pytest.raises(MimecastInvalidResponseError, match=r"data\[0\] keys \['importId', 'status'\]"):
            hook().import_users(ROWS, group_id="grp-1")


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
