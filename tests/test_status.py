from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_mimecast.errors import (
    MimecastConfigurationError,
    MimecastImportFailedError,
    MimecastInvalidResponseError,
)
from airflow_provider_mimecast.status import ImportState, ImportStatus, all_completed, normalize_import_ids

ITEM = {
    "id": "imp-1",
    "status": "completed",
    "importer": "admin@example.com",
    "notifyEmailAddress": "ops@example.com",
    "created": "2026-11-28T18:59:13+0000",
    "totalUsers": 10,
    "successfulImportedUsers": 8,
    "clearGroup": False,
    "allowAddressMigration": True,
    "sourceFile": "src-1",
    "reportFile": "rep-1",
    "newField": {"nested": 1},
}


def test_every_documented_field_is_read_and_unknown_ones_kept():
    status = ImportStatus.from_api(ITEM)
    assert status.created == datetime(2026, 11, 28, 18, 59, 13, tzinfo=timezone.utc)
    assert (status.total_users, status.successful_imported_users) == (10, 8)
    assert status.importer == "admin@example.com" and status.allow_address_migration is True
    assert status.extra == {"newField": {"nested": 1}}
    assert status.is_partial and status.state is ImportState.COMPLETED


def test_as_dict_is_json_safe_under_mimecasts_names_and_round_trips():
    as_dict = ImportStatus.from_api(ITEM).as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["created"] == "2026-11-28T18:59:13+00:00"
    assert as_dict["successfulImportedUsers"] == 8 and as_dict["newField"] == {"nested": 1}
    assert ImportStatus.from_api(as_dict) == ImportStatus.from_api(ITEM)


@pytest.mark.parametrize(
    "payload",
    [{"status": "pending"}, {"id": "x"}, {**ITEM, "created": "yesterday"}, {**ITEM, "totalUsers": "many"}],
)
def test_malformed_items_raise_invalid_response(payload):
    with pytest.raises(MimecastInvalidResponseError):
        ImportStatus.from_api(payload)


def test_only_completed_is_terminal():
    assert [s.is_terminal for s in ImportState] == [False, False, True]
    pending = ImportStatus(id="a", status="pending")
    done = ImportStatus(id="b", status="completed")
    assert all_completed([done]) and not all_completed([done, pending])


def test_an_undocumented_status_fails_naming_id_and_status():
    with pytest.raises(MimecastImportFailedError, match=r"'imp-9' has status 'failed'"):
        all_completed([ImportStatus(id="imp-9", status="failed")])


def test_import_ids_are_normalized():
    assert normalize_import_ids("a") == ["a"]
    assert normalize_import_ids(["a", " b "]) == ["a", "b"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "import_id is empty"),
        ("  ", r"import_id\[0\] is blank"),
        (["a", 3], r"import_id\[1\] is int"),
        (["a", "a"], "more than once"),
        (7, "must be an import ID string"),
    ],
)
def test_bad_import_ids_name_the_argument(value, message):
    with pytest.raises(MimecastConfigurationError, match=message):
        normalize_import_ids(value)
