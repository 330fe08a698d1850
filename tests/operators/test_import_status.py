"""MimecastGetImportStatusOperator: one read of the status, whatever the state, against the simulator."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mimecast.errors import MimecastMissingImportsError
from airflow_provider_mimecast.operators.import_status import MimecastGetImportStatusOperator
from airflow_provider_mimecast.testing.simulator import GET_IMPORT_STATUS_PATH, Fault
from tests.conftest import RecordingTaskInstance

FAST = {"retry_delay": 0.01}


def test_status_operator_pushes_every_set_field_under_its_own_key(connections):
    import_id = connections.create_import(
        total_users=6, successful_imported_users=5, pending_seconds=0, processing_seconds=0
    )
    ti = RecordingTaskInstance()
    value = MimecastGetImportStatusOperator(task_id="s", import_id=import_id).execute({"ti": ti})
    # None is not pushed (Airflow 3.0 refuses it); an absent key pulls as None all the same.
    assert value["notifyEmailAddress"] is None and "notifyEmailAddress" not in ti.pushed
    assert value["id"] == import_id and ti.pushed == {k: v for k, v in value.items() if v is not None}
    assert (ti.pushed["status"], ti.pushed["totalUsers"], ti.pushed["successfulImportedUsers"]) == (
        "completed",
        6,
        5,
    )
    assert json.loads(json.dumps(value)) == value


def test_status_operator_returns_a_list_for_several_ids_without_per_field_keys(connections):
    ids = [connections.create_import(), connections.create_import()]
    ti = RecordingTaskInstance()
    value = MimecastGetImportStatusOperator(task_id="s", import_id=ids, hook_params=FAST).execute({"ti": ti})
    assert [v["id"] for v in value] == ids and ti.pushed == {}


def test_the_status_operator_fails_on_an_import_the_answers_left_out(connections):
    import_id = connections.create_import()
    connections.inject(Fault("omit_ids", path=GET_IMPORT_STATUS_PATH, import_ids=(import_id,), times=2))
    operator = MimecastGetImportStatusOperator(task_id="status", import_id=import_id, hook_params=FAST)
    with pytest.raises(MimecastMissingImportsError, match=import_id):
        operator.execute({"ti": RecordingTaskInstance()})
    assert connections.status_request_sizes() == [1, 1]
