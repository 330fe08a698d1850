"""The sensor's ``end_from_trigger``: the task-end event a finished wait ends its task with, in the triggerer
(:class:`~airflow_provider_mimecast.sensors.import_status.MimecastImportStatusSensor` only: the import
operator always ends on a worker).

Airflow's ``TaskSuccessEvent``, ``TaskFailedEvent`` and ``TaskSkippedEvent`` (``airflow.triggers.base`` on
2.11 and every 3.x line) set the task's state without resuming it on a worker; a success event pushes its
XComs. What they cannot say, the worker still does: a failure goes back to the worker (the ordinary event)
when the task may still be retried, since Airflow 2.11 to 3.2 fail such an event without a retry and 3.3
retries even a timeout, which the sensor's own rules never retry (docs/waiting.rst, "end_from_trigger").
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields
from typing import Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent

from airflow_provider_mimecast.errors import MimecastError
from airflow_provider_mimecast.wait_event import ImportWaitEvent
from airflow_provider_mimecast.wait_outcome import Logger, wait_result


@dataclass(frozen=True)
class EndRules:
    """What the task would do with the event on a worker, so that the trigger can do it instead. Each field
    is a trigger kwarg of the same name, serialized only with ``end_from_trigger`` and when not at its
    default: a new end rule is one field here (and what :func:`task_end` does with it).

    :param single: the task was given one ID (its XCom is a dict) rather than a list.
    :param fail_on_partial_import: a completed import that left users out fails the task.
    :param soft_fail: the sensor's ``soft_fail``: a timeout skips the task.
    :param never_fail: the sensor's ``never_fail``: an error (not the timeout) skips the task.
    :param fail_in_trigger: a failure ends the task in the triggerer too (the task has no retry left);
        otherwise it goes back to the worker, where Airflow applies its retry rules.
    """

    single: bool = False
    fail_on_partial_import: bool = False
    soft_fail: bool = False
    never_fail: bool = False
    fail_in_trigger: bool = False

    def as_kwargs(self) -> dict[str, Any]:
        """The trigger kwargs, the ones left at their default omitted."""
        return {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if getattr(self, field.name) != field.default
        }


#: The trigger kwargs that carry a task's end rules: the fields of :class:`EndRules`, in their order.
END_RULES_KWARGS = tuple(field.name for field in fields(EndRules))


def task_end(wait: ImportWaitEvent, rules: EndRules, *, log: Logger) -> TriggerEvent:
    """The event that ends the task as its ``execute_complete`` would have, or the ordinary event where
    the worker must decide (a failure that Airflow may still retry).
    """
    try:
        value = wait_result(
            wait, single=rules.single, fail_on_partial_import=rules.fail_on_partial_import, log=log
        )
    except AirflowSensorTimeout as timeout:
        if rules.soft_fail:
            log.warning("Skipping due to soft_fail: %s", timeout)
            return TaskSkippedEvent()
        return _failed(wait, rules, timeout, log=log)
    except MimecastError as error:
        if rules.never_fail:
            log.warning("Skipping due to never_fail: %s", error)
            return TaskSkippedEvent()
        return _failed(wait, rules, error, log=log)
    xcoms: dict[str, Any] = {"return_value": value}
    return TaskSuccessEvent(xcoms=xcoms)


def _failed(wait: ImportWaitEvent, rules: EndRules, error: BaseException, *, log: Logger) -> TriggerEvent:
    if not rules.fail_in_trigger:
        log.info("The wait failed and the task may be retried: resuming it on a worker to decide")
        return ordinary_event(wait)
    log.error("%s: %s", type(error).__name__, error)
    return TaskFailedEvent()


def ordinary_event(wait: ImportWaitEvent) -> TriggerEvent:
    """The event that resumes the task on a worker, whose ``execute_complete`` reads ``wait``."""
    return TriggerEvent(wait.to_event())


def with_payload_for_dag_test(event: TriggerEvent, wait: ImportWaitEvent) -> TriggerEvent:
    """``dag.test()`` (2.11 and 3.x) does not end a task with a task-end event: it resumes the task on the
    worker with the event's ``payload`` (just the state's name). Giving the task-end event the ordinary
    payload makes that resumption read the wait as usual, with the same result. A real triggerer never
    sends a task-end event's payload (3.x serializes only its state and XComs; 2.11 reads only its state).
    """
    if type(event) is not TriggerEvent:
        # An Airflow whose event refuses it: dag.test() then resumes with the state's name.
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            event.payload = wait.to_event()
    return event
