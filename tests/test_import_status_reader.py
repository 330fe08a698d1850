"""Reading get-import-status answers without a network."""

from __future__ import annotations

import pytest

from airflow_provider_mimecast.errors import (
    MimecastApiError,
    MimecastInvalidResponseError,
    MimecastMissingImportsError,
    is_transient,
)
from airflow_provider_mimecast.import_status_reader import (
    StatusCheck,
    read_statuses,
    status_request_data,
    statuses_by_id,
)
from airflow_provider_mimecast.status import ImportStatus


def item(import_id: str, status: str = "pending") -> dict[str, object]:
    return {"id": import_id, "status": status}


def fail(import_id: str | None, message: str = "Import not found") -> dict[str, object]:
    error = {"code": "err_import_not_found", "message": message, "retryable": False}
    return {"key": {"id": import_id}, "errors": [error]} if import_id else {"errors": [error]}


def test_each_asked_id_gets_its_own_status():
    answer = read_statuses(["a", "b"], {"data": [item("b", "completed"), item("a")], "fail": []})
    assert {i: s.status for i, s in answer.statuses.items()} == {"a": "pending", "b": "completed"}
    assert (answer.missing, answer.unasked) == ((), ())


def test_an_id_the_answer_left_out_is_missing_in_the_order_asked():
    answer = read_statuses(["c", "a", "b"], {"data": [item("a")], "fail": []})
    assert list(answer.statuses) == ["a"]
    assert answer.missing == ("c", "b")


def test_an_id_nobody_asked_for_is_ignored_even_when_malformed():
    document = {"data": [item("a"), item("x", "completed"), {"id": "y", "status": None}], "fail": []}
    answer = read_statuses(["a"], document)
    assert list(answer.statuses) == ["a"] and answer.unasked == ("x", "y")


def test_an_id_reported_twice_with_different_contents_is_missing():
    # Which of the two is right cannot be told: a completed one must not be trusted.
    document = {"data": [item("a"), item("a", "completed"), item("b"), item("b")], "fail": []}
    answer = read_statuses(["a", "b"], document)
    assert answer.missing == ("a",) and list(answer.statuses) == ["b"]


def test_an_item_without_an_id_is_an_invalid_response():
    with pytest.raises(MimecastInvalidResponseError, match="no string 'id'"):
        read_statuses(["a"], {"data": [{"status": "completed"}], "fail": []})


def test_a_fail_entry_belongs_to_the_id_it_names_only():
    results = statuses_by_id(
        ["a", "b"], {"data": [item("a")], "fail": [fail("b", "gone, secret-value")]}, secrets=["secret-value"]
    )
    assert isinstance(results["a"], ImportStatus)
    assert isinstance(results["b"], MimecastApiError) and "'b' err_import_not_found" in str(results["b"])
    assert "secret-value" not in str(results["b"])


def test_a_fail_entry_naming_no_asked_id_concerns_the_whole_request():
    with pytest.raises(MimecastApiError, match="answered with errors"):
        statuses_by_id(["a"], {"data": [item("a")], "fail": [fail(None)]})


def test_an_unasked_id_never_becomes_a_poll_result():
    results = statuses_by_id(["a"], {"data": [item("a"), item("x", "completed")], "fail": []})
    assert list(results) == ["a"]


def test_an_id_left_out_of_a_batch_answer_was_not_seen():
    results = statuses_by_id(["a", "b"], {"data": [item("a")], "fail": []})
    assert isinstance(results["a"], ImportStatus)
    assert isinstance(results["b"], MimecastMissingImportsError) and results["b"].import_ids == ("b",)
    assert is_transient(results["b"])  # a wait keeps waiting for it


def test_an_id_answered_twice_differently_in_a_batch_was_not_seen():
    document = {"data": [item("a", "pending"), item("a", "completed"), item("b"), item("b")], "fail": []}
    results = statuses_by_id(["a", "b"], document)
    assert isinstance(results["a"], MimecastMissingImportsError)
    assert isinstance(results["b"], ImportStatus)  # the same answer twice is still one answer


def test_retryable_fail_entries_are_transient_and_others_are_not():
    retryable = {"key": {"id": "a"}, "errors": [{"code": "err_busy", "message": "later", "retryable": True}]}
    results = statuses_by_id(["a", "b"], {"data": [], "fail": [retryable, fail("b")]})
    assert is_transient(results["a"]) and "(retryable)" in str(results["a"])
    assert not is_transient(results["b"])


class _Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str, *args: object) -> None:
        self.warnings.append(message % args)


def _answer_all(check: StatusCheck, answer: dict[str, list[str]]) -> list[list[str]]:
    """Read each batch with the answer ``answer`` gives for its first ID (all of the batch by default)."""
    asked = []
    for batch in check.batches():
        asked.append(batch)
        ids = answer.get(batch[0], batch)
        check.read(batch, {"data": [item(i) for i in ids], "fail": []})
    return asked


def test_a_status_check_asks_in_batches_and_returns_the_statuses_in_the_order_asked():
    check = StatusCheck(["a", "b", "c"], 2, log=_Log())
    assert _answer_all(check, {}) == [["a", "b"], ["c"]]
    assert [s.id for s in check.statuses()] == ["a", "b", "c"]


def test_a_status_check_asks_once_more_for_what_an_answer_left_out_then_has_it():
    log = _Log()
    check = StatusCheck(["a", "b"], 10, log=log)
    assert _answer_all(check, {"a": ["a", "x"]}) == [["a", "b"], ["b"]]
    assert [s.id for s in check.statuses()] == ["a", "b"]
    assert "asking again once" in log.warnings[1] and "['x']" in log.warnings[0]


def test_a_status_check_still_missing_an_id_raises_with_what_it_saw():
    check = StatusCheck(["a", "b"], 10, log=_Log())
    assert _answer_all(check, {"a": ["a"], "b": []}) == [["a", "b"], ["b"]]
    with pytest.raises(MimecastMissingImportsError) as raised:
        check.statuses()
    assert raised.value.import_ids == ("b",)
    assert [s.id for s in raised.value.statuses] == ["a"]


def test_the_data_of_a_status_request_names_each_id():
    assert status_request_data(["a", "b"]) == [{"id": "a"}, {"id": "b"}]
