"""What a finished wait means: shared by the sensor, the trigger's consumers and the import operator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout

from airflow_provider_mimecast.errors import (
    MimecastError,
    MimecastImportFailedError,
    MimecastRateLimitError,
    is_transient,
)
from airflow_provider_mimecast.status import ImportStatus
from airflow_provider_mimecast.wait_event import EVENT_SUCCESS, EVENT_TIMEOUT, ImportWaitEvent

#: ``logging.Logger`` on Airflow 2, a structlog logger on Airflow 3: anything with info and warning.
Logger = Any


def failure_message(error: BaseException) -> str:
    """What a trigger's error event says about ``error``: our own messages are free of secrets and
    complete; anything else is named by type, with its message cut short.
    """
    if isinstance(error, MimecastError):
        return str(error)
    text = str(error)
    text = text if len(text) <= 300 else text[:300] + "..."
    return f"The Mimecast trigger failed unexpectedly: {type(error).__name__}" + (f": {text}" if text else "")


def check_again_in(error: MimecastError, *, costs_no_worker: bool) -> float | None:
    """Seconds a wait lets pass before its next check after a check failed with ``error``, or None when
    the error ends the wait.

    A rate limit (left over after the hook's own waiting) says when Mimecast takes calls again: every wait
    checks again then, within its timeout. Other transient failures left after the hook's retries (server
    errors, lost connections, retryable ``fail`` entries: :func:`~airflow_provider_mimecast.errors.is_transient`)
    end only a wait that holds a worker; one that costs none between checks (deferrable, reschedule mode)
    rides them out at its usual interval until its deadline.

    :param error: what the check raised.
    :param costs_no_worker: whether the wait frees its worker between checks.
    """
    if isinstance(error, MimecastRateLimitError):
        return error.retry_after
    if costs_no_worker and is_transient(error):
        return 0.0
    return None


def log_statuses(log: Logger, statuses: Sequence[ImportStatus]) -> None:
    """One line per import: its status and successful/total users."""
    for status in statuses:
        log.info("Mimecast %s", status.summary())


def completed_result(
    statuses: Sequence[ImportStatus], *, single: bool, fail_on_partial_import: bool, log: Logger
) -> dict[str, Any] | list[dict[str, Any]]:
    """Check completed imports for users left out and return the XCom value (a dict, or a list of them).

    :param statuses: the completed imports.
    :param single: whether the caller asked for one ID (return a dict) rather than a list.
    :param fail_on_partial_import: raise instead of warning when some users were not imported.
    :param log: where the warning goes.
    """
    for status in statuses:
        impossible = status.impossible_counts
        if impossible:
            # Counts that cannot be right: nobody can tell how many users were imported, so this is
            # treated as a partial import rather than trusted or crashed on.
            message = (
                f"Mimecast import {status.id} completed with counts that cannot be right: {impossible}; "
                "treating it as a partial import"
            )
            rest = "check the import in the Mimecast console"
        elif status.is_partial:
            message = (
                f"Mimecast import {status.id} completed with {status.successful_imported_users} of "
                f"{status.total_users} users imported"
            )
            rest = "the rest were rejected"
        else:
            continue
        if fail_on_partial_import:
            raise MimecastImportFailedError(
                f"{message}; failing because fail_on_partial_import=True (the import's report in the "
                "Mimecast console lists the rejected rows)"
            )
        log.warning("%s; %s (set fail_on_partial_import=True to fail instead)", message, rest)
    values = [s.as_dict() for s in statuses]
    return values[0] if single else values


def event_result(
    event: Mapping[str, Any], *, single: bool, fail_on_partial_import: bool, log: Logger
) -> dict[str, Any] | list[dict[str, Any]]:
    """Turn a :class:`MimecastImportStatusTrigger` event payload into the XCom value, or raise (see
    :func:`wait_result`).
    """
    return wait_result(
        ImportWaitEvent.from_event(event),
        single=single,
        fail_on_partial_import=fail_on_partial_import,
        log=log,
    )


def wait_result(
    event: ImportWaitEvent, *, single: bool, fail_on_partial_import: bool, log: Logger
) -> dict[str, Any] | list[dict[str, Any]]:
    """The XCom value of a wait that ended with ``event``, or raise: errors become :class:`MimecastError`;
    a timeout becomes ``AirflowSensorTimeout`` so that ``soft_fail`` skips the task as it does in poke mode.
    Read on the worker (``execute_complete``) and, with ``end_from_trigger``, in the triggerer.
    """
    if event.kind == EVENT_SUCCESS:
        log_statuses(log, event.statuses)
        return completed_result(
            event.statuses, single=single, fail_on_partial_import=fail_on_partial_import, log=log
        )
    if event.kind == EVENT_TIMEOUT:
        raise AirflowSensorTimeout(event.message)
    raise MimecastError(event.message)
