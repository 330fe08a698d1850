"""What a finished wait means: partial imports and counts that cannot be right."""

from __future__ import annotations

import pytest

from airflow_provider_mimecast.completion import completed_result
from airflow_provider_mimecast.errors import MimecastImportFailedError
from airflow_provider_mimecast.status import ImportStatus


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
