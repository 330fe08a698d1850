"""Reading get-import-status answers without a network."""

from __future__ import annotations

import pytest

from airflow_provider_mimecast.errors import (
    MimecastApiError,
    MimecastImportNotAnsweredError,
    MimecastInvalidResponseError,
)
from airflow_provider_mimecast.hooks.retry import is_transient
from airflow_provider_mimecast.status import ImportStatus
from airflow_provider_mimecast.status_answer import statuses_by_id, statuses_in_order


def item(import_id: str, status: str = "pending") -> dict[str, object]:
    return {"id": import_id, "status": status}


def fail(import_id: str | None, message: str = "Import not found") -> dict[str, object]:
    error = {"code": "err_import_not_found", "message": message, "retryable": False}
    return {"key": {"id": import_id}, "errors": [error]} if import_id else {"errors": [error]}


def test_statuses_come_back_in_the_order_asked():
    document = {"data": [item("b", "completed"), item("a")], "fail": []}
    assert [s.id for s in statuses_in_order(["a", "b"], document)] == ["a", "b"]


def test_an_id_the_answer_left_out_is_an_invalid_response():
    with pytest.raises(MimecastInvalidResponseError, match=r"\['b'\]"):
        statuses_in_order(["a", "b"], {"data": [item("a")], "fail": []})


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


def test_an_id_left_out_of_a_batch_answer_was_not_seen():
    results = statuses_by_id(["a", "b"], {"data": [item("a")], "fail": []})
    assert isinstance(results["a"], ImportStatus)
    assert isinstance(results["b"], MimecastImportNotAnsweredError) and "['b']" in str(results["b"])
    assert is_transient(results["b"])  # a wait keeps waiting for it


def test_an_id_nobody_asked_for_is_ignored_however_it_reads():
    document = {"data": [item("a"), item("x", "completed"), {"id": "y", "status": 7}], "fail": []}
    assert list(statuses_by_id(["a"], document)) == ["a"]


def test_an_id_answered_twice_differently_was_not_seen():
    document = {"data": [item("a", "pending"), item("a", "completed"), item("b"), item("b")], "fail": []}
    results = statuses_by_id(["a", "b"], document)
    assert isinstance(results["a"], MimecastImportNotAnsweredError) and "more than once" in str(results["a"])
    assert isinstance(results["b"], ImportStatus)  # the same answer twice is still one answer


def test_an_item_without_an_id_is_no_answer_at_all():
    with pytest.raises(MimecastInvalidResponseError, match="no string 'id'"):
        statuses_by_id(["a"], {"data": [item("a"), {"status": "completed"}], "fail": []})


def test_retryable_fail_entries_are_transient_and_others_are_not():
    retryable = {"key": {"id": "a"}, "errors": [{"code": "err_busy", "message": "later", "retryable": True}]}
    results = statuses_by_id(["a", "b"], {"data": [], "fail": [retryable, fail("b")]})
    assert is_transient(results["a"]) and "(retryable)" in str(results["a"])
    assert not is_transient(results["b"])
