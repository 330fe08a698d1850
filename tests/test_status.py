from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_mimecast.errors import (
    FailureDetail,
    MimecastApiError,
    MimecastAuthenticationError,
    MimecastConfigurationError,
    MimecastError,
    MimecastImportFailedError,
    MimecastInvalidResponseError,
    MimecastMissingImportsError,
    MimecastRateLimitError,
    MimecastServerError,
    MimecastTransportError,
)
from airflow_provider_mimecast.status import ImportState, ImportStatus, all_completed, normalize_import_ids
from airflow_provider_mimecast.wait_outcome import check_again_in, completed_result, event_result

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


class LazyIds(Sequence[str]):
    """A read-only sequence that is not a list, as Airflow hands over a mapped task's XComs
    (``LazyXComSequence`` on 3.x, ``LazySelectSequence`` on 2.11)."""

    def __init__(self, *ids: str) -> None:
        self._ids = ids

    def __getitem__(self, index: Any) -> Any:
        return self._ids[index]

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"LazyXComSequence([{len(self)} items])"


def test_import_ids_are_normalized():
    assert normalize_import_ids("a") == ["a"]
    assert normalize_import_ids(["a", " b "]) == ["a", "b"]
    assert normalize_import_ids(("a", "b")) == ["a", "b"]
    assert normalize_import_ids(LazyIds("b", "a", "c")) == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "import_id is empty"),
        (LazyIds(), "import_id is empty"),
        ("  ", r"import_id\[0\] is blank"),
        (["a", 3], r"import_id\[1\] is int"),
        (["a", "a"], "more than once"),
        (LazyIds("a", None), r"import_id\[1\] is None: .*XCom is missing"),
        (7, r"must be an import ID string.*got int \(a template rendered with render_template_as_native_obj"),
        ({"id": "a"}, "must be an import ID string or a list of them, got dict"),
        ({"a"}, "got set"),
        (b"a", "got bytes"),
        (str(LazyIds("a", "b", "c")), r"'LazyXComSequence\(\[3 items\]\)', not an import ID.*XComArg"),
        ("LazySelectSequence([2 items])", "render_template_as_native_obj=True"),
    ],
)
def test_bad_import_ids_name_the_argument(value, message):
    with pytest.raises(MimecastConfigurationError, match=message):
        normalize_import_ids(value)


@pytest.mark.parametrize(
    "count",
    [1e400, float("inf"), float("nan"), -1e400, 2.7, 2**60, 1e300, "1e400", "9" * 5000, [], {}],
)
def test_counts_that_are_not_counts_are_invalid_responses(count):
    with pytest.raises(MimecastInvalidResponseError, match=r"'totalUsers' is .*not a count of users"):
        ImportStatus.from_api({**ITEM, "totalUsers": count})


def test_counts_from_json_are_read_exactly():
    body = b'{"id": "a", "status": "completed", "totalUsers": 1e400, "successfulImportedUsers": 3.0}'
    with pytest.raises(MimecastInvalidResponseError):
        ImportStatus.from_api(json.loads(body))
    status = ImportStatus.from_api({**json.loads(body), "totalUsers": "4"})
    assert (status.total_users, status.successful_imported_users) == (4, 3)


@pytest.mark.parametrize(
    ("total", "successful", "reason"),
    [
        (-1, 0, "totalUsers is negative"),
        (5, -2, "successfulImportedUsers is negative"),
        (3, 5, r"successfulImportedUsers \(5\) is more than totalUsers \(3\)"),
    ],
)
def test_impossible_counts_are_named(total, successful, reason):
    status = ImportStatus.from_api({**ITEM, "totalUsers": total, "successfulImportedUsers": successful})
    assert status.impossible_counts is not None
    assert re.search(reason, status.impossible_counts)
    assert ImportStatus.from_api(ITEM).impossible_counts is None


@pytest.mark.parametrize("value", [None, "None", "null", "NULL", "undefined", " none "])
def test_ids_rendered_from_a_missing_xcom_are_refused_with_the_hint(value):
    with pytest.raises(MimecastConfigurationError, match="upstream XCom is missing") as caught:
        normalize_import_ids(value)
    assert "import_id" in str(caught.value)
    with pytest.raises(MimecastConfigurationError, match=r"import_id\[1\] is .*upstream XCom is missing"):
        normalize_import_ids(["a", value])


@pytest.mark.parametrize("value", ["['a', 'b']", '["a"]', "('a',)"])
def test_a_list_rendered_as_text_is_refused_naming_native_rendering(value):
    with pytest.raises(MimecastConfigurationError, match="render_template_as_native_obj=True") as caught:
        normalize_import_ids(value)
    assert "XComArg" in str(caught.value)


def test_ids_that_merely_contain_those_words_are_fine():
    assert normalize_import_ids(["None-1", "nullable", "a[1]"]) == ["None-1", "nullable", "a[1]"]


def test_random_items_raise_only_invalid_response():
    rng = random.Random(8)
    values = [
        None,
        1,
        -1,
        1.5,
        1e400,
        float("nan"),
        "x",
        "",
        "2026-01-01T00:00:00Z",
        "+0000",
        True,
        [],
        {},
        "9" * 30,
    ]
    for _ in range(3000):
        payload = {
            name: rng.choice(values)
            for name in ("id", "status", "created", "totalUsers", "successfulImportedUsers")
            if rng.random() < 0.8
        }
        payload.setdefault("id", "imp")
        try:
            status = ImportStatus.from_api(payload)
        except MimecastInvalidResponseError:
            continue
        status.summary()
        assert isinstance(status.impossible_counts, str | None)
        json.dumps(status.as_dict())


# What a finished wait means (wait_outcome.py): partial imports and counts that cannot be right.


class RecordingLog:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def info(self, message: str, *args: object) -> None:
        pass

    def warning(self, message: str, *args: object) -> None:
        self.warnings.append(message % args)


def completed(total: int | None, successful: int | None) -> ImportStatus:
    return ImportStatus(
        id="imp-1", status="completed", total_users=total, successful_imported_users=successful
    )


@pytest.mark.parametrize(
    ("total", "successful", "logged"),
    [
        (-1, 0, "totalUsers is negative (-1)"),
        (10, -3, "successfulImportedUsers is negative (-3)"),
        (3, 5, "successfulImportedUsers (5) is more than totalUsers (3)"),
    ],
)
def test_impossible_counts_are_logged_as_such_and_fail_as_partial(total, successful, logged):
    log = RecordingLog()
    result = completed_result(
        [completed(total, successful)], single=True, fail_on_partial_import=False, log=log
    )
    assert result["totalUsers"] == total
    assert len(log.warnings) == 1 and "cannot be right" in log.warnings[0] and logged in log.warnings[0]
    with pytest.raises(MimecastImportFailedError, match=r"cannot be right.*fail_on_partial_import=True"):
        completed_result([completed(total, successful)], single=True, fail_on_partial_import=True, log=log)


def test_partial_and_complete_imports():
    log = RecordingLog()
    result = completed_result(
        [completed(10, 10), completed(None, 3), completed(10, 7)],
        single=False,
        fail_on_partial_import=False,
        log=log,
    )
    assert [r["successfulImportedUsers"] for r in result] == [10, 3, 7]
    assert log.warnings == [
        "Mimecast import imp-1 completed with 7 of 10 users imported; the rest were rejected "
        "(set fail_on_partial_import=True to fail instead)"
    ]


@pytest.mark.parametrize(
    "event",
    [{"status": "success"}, {"status": "success", "statuses": "x"}, {"status": "success", "statuses": [1]}],
)
def test_a_malformed_success_event_is_an_invalid_response(event):
    with pytest.raises(MimecastInvalidResponseError, match="no list of import statuses"):
        event_result(event, single=True, fail_on_partial_import=False, log=RecordingLog())


def test_event_statuses_with_impossible_counts_are_partial():
    event = {"status": "success", "statuses": [{"id": "a", "status": "completed", "totalUsers": -1}]}
    with pytest.raises(MimecastImportFailedError, match="cannot be right"):
        event_result(event, single=True, fail_on_partial_import=True, log=RecordingLog())


@pytest.mark.parametrize(
    ("error", "holding_a_worker", "costing_no_worker"),
    [
        (MimecastRateLimitError("429", retry_after=42.0), 42.0, 42.0),
        (MimecastServerError("503"), None, 0.0),
        (MimecastTransportError("reset", request_sent=True), None, 0.0),
        (MimecastTransportError("TLS", request_sent=False, transient=False), None, None),
        (MimecastAuthenticationError("401"), None, None),
        (MimecastApiError("fail entry"), None, None),
        (
            MimecastApiError("busy", failures=(FailureDetail("err_busy", "try later", retryable=True),)),
            None,
            0.0,
        ),
        (MimecastMissingImportsError("left out", import_ids=("a",)), None, 0.0),
        (MimecastInvalidResponseError("HTML"), None, None),
        (MimecastImportFailedError("undocumented status"), None, None),
        (MimecastError("trigger error"), None, None),
    ],
)
def test_a_wait_checks_again_after_a_rate_limit_and_rides_out_outages_only_when_it_costs_no_worker(
    error, holding_a_worker, costing_no_worker
):
    assert check_again_in(error, costs_no_worker=False) == holding_a_worker
    assert check_again_in(error, costs_no_worker=True) == costing_no_worker
