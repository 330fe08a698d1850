"""The task side of waiting (sensors/import_wait.py) on its own: no server, no clock."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_mimecast.errors import (
    MimecastAuthenticationError,
    MimecastMissingImportsError,
    MimecastRateLimitError,
    MimecastServerError,
)
from airflow_provider_mimecast.sensors.import_wait import (
    DEFERRAL_GRACE_SECONDS,
    ImportWait,
    deferral_timeout,
    end_rules,
    retries_left,
)
from airflow_provider_mimecast.status import ImportStatus
from airflow_provider_mimecast.triggers.import_status import MimecastImportStatusTrigger, trigger_kwargs
from airflow_provider_mimecast.triggers.task_end import END_RULES_KWARGS, EndRules

BASE = {
    "import_ids": ["a"],
    "mimecast_conn_id": "c",
    "poll_interval": 5.0,
    "end_time": 1.0,
    "hook_params": {},
}


def test_the_end_rules_kwargs_are_the_fields_of_end_rules():
    assert END_RULES_KWARGS == (
        "single",
        "fail_on_partial_import",
        "soft_fail",
        "never_fail",
        "fail_in_trigger",
    )
    assert tuple(field.name for field in fields(EndRules)) == END_RULES_KWARGS


def test_trigger_kwargs_leave_out_what_is_not_used():
    assert trigger_kwargs(**BASE) == BASE
    assert list(trigger_kwargs(**BASE, end_rules=EndRules(soft_fail=True), timeout=9.0, import_id="x")) == [
        *BASE,
        "end_from_trigger",
        "soft_fail",
        "timeout",
        "import_id",
    ]
    # A rule left at its default is not serialized, even with end_from_trigger.
    assert trigger_kwargs(**BASE, end_rules=EndRules()) == {**BASE, "end_from_trigger": True}


def test_serialize_is_trigger_kwargs():
    kwargs = {**BASE, "end_rules": EndRules(single=True, fail_in_trigger=True), "timeout": 3.0}
    trigger = MimecastImportStatusTrigger(
        **BASE, end_from_trigger=True, single=True, fail_in_trigger=True, timeout=3.0
    )
    assert trigger.serialize()[1] == trigger_kwargs(**kwargs)


class Ti:
    def __init__(self, try_number: int) -> None:
        self.try_number = try_number


@pytest.mark.parametrize(
    ("retries", "context", "left"),
    [
        (0, None, False),
        (2, None, True),
        (2, {"ti": Ti(2)}, True),
        (2, {"ti": Ti(3)}, False),
        (2, {}, True),
    ],
)
def test_retries_left(retries, context, left):
    assert retries_left(SimpleNamespace(retries=retries), context) is left


def test_end_rules_read_the_task():
    task = SimpleNamespace(
        import_id="x", fail_on_partial_import=True, soft_fail=False, never_fail=True, retries=0
    )
    assert end_rules(task) == EndRules(
        single=True, fail_on_partial_import=True, never_fail=True, fail_in_trigger=True
    )
    task.import_id, task.retries = ["x"], 1
    assert end_rules(task) == EndRules(fail_on_partial_import=True, never_fail=True)


def test_the_deferral_timeout_is_a_backstop_past_the_trigger_deadline():
    assert deferral_timeout(60, 5) == timedelta(seconds=65 + DEFERRAL_GRACE_SECONDS)


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str, *args: Any) -> None:
        self.warnings.append(message % args)

    def info(self, message: str, *args: Any) -> None:
        pass


class Hook:
    """Answers get_import_status with ``answer``, or raises it."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def get_import_status(self, import_ids: list[str]) -> list[ImportStatus]:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def wait(**kwargs: Any) -> ImportWait:
    task = SimpleNamespace(log=Log(), task_id="t")
    settings: dict[str, Any] = {
        "mimecast_conn_id": "c",
        "hook_params": {},
        "poll_interval": 1.0,
        "timeout": 9.0,
    }
    return ImportWait(task, **{**settings, "deferrable": False, **kwargs})  # type: ignore[arg-type]


def test_a_check_returns_the_statuses():
    assert wait().check(Hook([]), ["a"]) == ([], 0.0)  # type: ignore[arg-type]


def test_a_rate_limit_is_checked_again_at_its_reset_in_every_mode():
    limited = MimecastRateLimitError("slow down", retry_after=7.0)
    for mode in ({}, {"deferrable": True}, {"reschedule": True}):
        assert wait(**mode).check(Hook(limited), ["a"]) == (None, 7.0)  # type: ignore[arg-type]


def test_a_transient_failure_ends_only_a_wait_that_holds_its_worker():
    down = MimecastServerError("502")
    with pytest.raises(MimecastServerError):
        wait().check(Hook(down), ["a"])  # type: ignore[arg-type]
    for mode in ({"deferrable": True}, {"reschedule": True}):
        assert wait(**mode).check(Hook(down), ["a"]) == (None, 0.0)  # type: ignore[arg-type]
    with pytest.raises(MimecastAuthenticationError):
        wait(deferrable=True).check(Hook(MimecastAuthenticationError("no")), ["a"])  # type: ignore[arg-type]


def test_missing_imports_are_raised_for_the_sensor_only():
    missing = MimecastMissingImportsError("left out", import_ids=("a",))
    assert wait(deferrable=True).check(Hook(missing), ["a"]) == (None, 0.0)  # type: ignore[arg-type]
    with pytest.raises(MimecastMissingImportsError):
        wait(deferrable=True).check(Hook(missing), ["a"], raise_missing=True)  # type: ignore[arg-type]


def test_a_wait_that_does_not_defer_checks_with_the_tasks_own_hook():
    completed = ImportStatus.from_api(
        {"id": "a", "status": "completed", "totalUsers": 1, "successfulImportedUsers": 1}
    )
    task_hook = Hook([completed])
    assert wait().status_hook(task_hook) is task_hook  # type: ignore[arg-type]
    result = wait().until_completed("a", fail_on_partial_import=False, task_hook=task_hook)  # type: ignore[arg-type]
    assert result == completed.as_dict()
    # A deferrable wait's checks leave rate limits to the triggerer: never the task's hook, which retries them.
    deferring = wait(deferrable=True).status_hook(task_hook)  # type: ignore[arg-type]
    assert deferring is not task_hook and deferring.retry_rate_limits is False
