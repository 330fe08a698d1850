"""The import operator's sync steps run by execute() against the simulator, for the cases that need no
Airflow metadata database: files whose rows cannot be read (xls)."""

from __future__ import annotations

import pytest

from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.testing.simulator import GET_GROUP_MEMBERS_PATH, IMPORT_USERS_PATH
from tests.conftest import RecordingTaskInstance

XLS = b"\xd0\xcf\x11\xe0" + b"\0" * 508


def operator(**options):
    from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator

    return MimecastImportUsersOperator(
        task_id="sync",
        source=XLS,
        file_type="xls",
        group_id="grp-1",
        poll_interval=0.05,
        hook_params={"retry_delay": 0.01},
        **options,
    )


def test_an_xls_file_cannot_be_guarded_so_clear_group_fails_before_upload(connections):
    with pytest.raises(MimecastConfigurationError, match="xls file, whose rows the provider cannot read"):
        operator(clear_group=True).execute({"ti": RecordingTaskInstance()})
    assert IMPORT_USERS_PATH not in connections.request_counts()


def test_remove_missing_refuses_an_xls_file_before_any_request(connections):
    with pytest.raises(MimecastConfigurationError, match="remove_missing=True needs the rows"):
        operator(remove_missing=True, wait_for_completion=True).execute({"ti": RecordingTaskInstance()})
    assert connections.requests == []


def test_a_plain_xls_import_goes_on_without_a_plan_or_not_in_group(connections, capfd):
    ti = RecordingTaskInstance()
    result = operator(wait_for_completion=True).execute({"ti": ti})
    assert result["status"] == "completed" and set(ti.pushed) == {"import_id"}
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert GET_GROUP_MEMBERS_PATH not in connections.request_counts()
    out = capfd.readouterr().out
    assert "Could not plan the import" in out and "no not_in_group report" in out
