"""ImportWaitEvent: the one trigger-event payload, whose serialized form deferred tasks depend on."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mimecast.errors import MimecastInvalidResponseError
from airflow_provider_mimecast.status import ImportStatus
from airflow_provider_mimecast.wait_event import ImportWaitEvent

#: Status dicts as the trigger has always written them (ImportStatus.as_dict(): every field, None included).
COMPLETED = ImportStatus.from_api(
    {
        "id": "imp-1",
        "status": "completed",
        "totalUsers": 3,
        "successfulImportedUsers": 3,
        "created": "2026-01-02T03:04:05+00:00",
        "futureField": {"kept": True},
    }
).as_dict()
PROCESSING = ImportStatus.from_api(
    {"id": "imp-2", "status": "processing", "totalUsers": 8, "successfulImportedUsers": 0}
).as_dict()

#: The payloads as releases before ImportWaitEvent wrote them (the trigger built these dicts by hand): a task
#: deferred by one of them must resume on this release.
OLDER_PAYLOADS = [
    {"status": "success", "statuses": [COMPLETED]},
    {"status": "error", "message": "Mimecast refused the credentials"},
    {
        "status": "timeout",
        "message": "Timed out waiting for Mimecast imports to complete: ...",
        "statuses": [],
    },
    {"status": "timeout", "message": "Timed out: import imp-2: processing", "statuses": [PROCESSING]},
]


@pytest.mark.parametrize("payload", OLDER_PAYLOADS)
def test_payloads_of_older_releases_read_and_write_back_unchanged(payload):
    event = ImportWaitEvent.from_event(payload)
    assert event.to_event() == payload
    assert json.loads(json.dumps(event.to_event())) == payload


def test_each_kind_serializes_to_the_documented_form():
    [completed] = [ImportStatus.from_api(COMPLETED)]
    assert ImportWaitEvent.success([completed]).to_event() == {"status": "success", "statuses": [COMPLETED]}
    assert ImportWaitEvent.error("boom").to_event() == {"status": "error", "message": "boom"}
    assert ImportWaitEvent.timeout("late", [ImportStatus.from_api(PROCESSING)]).to_event() == {
        "status": "timeout",
        "message": "late",
        "statuses": [PROCESSING],
    }


def test_reading_gives_status_objects():
    event = ImportWaitEvent.from_event({"status": "success", "statuses": [COMPLETED, PROCESSING]})
    assert event.kind == "success" and [s.id for s in event.statuses] == ["imp-1", "imp-2"]
    assert event.statuses[0].successful_imported_users == 3 and event.statuses[0].extra == {
        "futureField": {"kept": True}
    }


@pytest.mark.parametrize(
    "payload",
    [{"status": "success"}, {"status": "success", "statuses": "x"}, {"status": "success", "statuses": [1]}],
)
def test_a_success_without_statuses_is_an_invalid_response(payload):
    with pytest.raises(MimecastInvalidResponseError, match="no list of import statuses"):
        ImportWaitEvent.from_event(payload)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"status": "error"}, "unexpected event: {'status': 'error'}"),
        ({"status": "weird", "message": "what it says"}, "what it says"),
        ({}, "unexpected event: {}"),
    ],
)
def test_anything_else_reads_as_an_error(payload, message):
    event = ImportWaitEvent.from_event(payload)
    assert event.kind == "error" and message in event.message


def test_a_timeout_with_unreadable_statuses_is_still_a_timeout():
    event = ImportWaitEvent.from_event({"status": "timeout", "statuses": [{"no": "id"}, PROCESSING, 3]})
    assert event.kind == "timeout" and event.message == "Timed out waiting for the Mimecast import"
    assert [s.id for s in event.statuses] == ["imp-2"]
