"""MimecastImportStatusTrigger: waits for imports in the triggerer without holding a worker slot."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, NoReturn

from airflow.providers.common.compat.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mimecast.completion import (
    EVENT_ERROR,
    EVENT_SUCCESS,
    EVENT_TIMEOUT,
    failure_message,
    log_statuses,
)
from airflow_provider_mimecast.status import ImportStatus, all_completed
from airflow_provider_mimecast.triggers.poller import POLLERS, Report

#: How long past its deadline a wait still expects the poller's last report before giving up on it.
REPORT_GRACE_SECONDS = 60.0
#: Extra time the triggerer allows past the trigger's own deadline before Airflow times the deferral out;
#: the trigger normally reports the timeout itself, after its last check.
DEFERRAL_GRACE_SECONDS = 60.0


class MimecastImportStatusTrigger(BaseTrigger):
    """Polls get-import-status until every import is completed, then fires exactly one event.

    Events are ``{"status": "success", "statuses": [...]}``, ``{"status": "error", "message": ...}`` or,
    after one last check at ``end_time``, ``{"status": "timeout", "message": ..., "statuses": [...]}``.
    Transient failures are retried inside the hook; only what is left after its retries becomes an error.

    :param import_ids: the import IDs to wait for.
    :param mimecast_conn_id: the ``mimecast`` connection.
    :param poll_interval: seconds between two checks.
    :param end_time: the deadline as a Unix timestamp (seconds).
    :param hook_params: keyword arguments for :class:`MimecastHook` (``timeout``, ``max_retries``, ...).
    """

    def __init__(
        self,
        import_ids: list[str],
        mimecast_conn_id: str,
        poll_interval: float,
        end_time: float,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.import_ids = list(import_ids)
        self.mimecast_conn_id = mimecast_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.hook_params = dict(hook_params or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "import_ids": self.import_ids,
                "mimecast_conn_id": self.mimecast_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "hook_params": self.hook_params,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            poller = POLLERS.poller(self.mimecast_conn_id, self.hook_params, log=self.log)
            # The poller keeps time with the monotonic clock; end_time is wall-clock, as serialized.
            deadline = time.monotonic() + (self.end_time - time.time())
            async with poller.register(
                self.import_ids, interval=self.poll_interval, deadline=deadline
            ) as wait:
                shown: dict[str, str] = {}
                while True:
                    report = await wait.next_report(give_up_at=deadline + REPORT_GRACE_SECONDS)
                    if report is None:
                        yield self._timeout_event([], "no answer from Mimecast came before the deadline")
                        return
                    event = self._event(report, final=time.monotonic() >= deadline, shown=shown)
                    if event is not None:
                        yield event
                        return
        except Exception as error:
            # A trigger that crashes leaves its task deferred until the deferral timeout: report instead.
            yield TriggerEvent({"status": EVENT_ERROR, "message": failure_message(error)})

    def _event(self, report: Report, *, final: bool, shown: dict[str, str]) -> TriggerEvent | None:
        statuses: list[ImportStatus] = []
        errors: list[str] = []
        for import_id in self.import_ids:
            item = report[import_id]
            if isinstance(item, ImportStatus):
                statuses.append(item)
            else:
                errors.append(str(item))
        if errors:
            return TriggerEvent({"status": EVENT_ERROR, "message": "; ".join(dict.fromkeys(errors))})
        # Log an import's line when it changes, not at every poll: a long wait stays readable.
        changed = [s for s in statuses if shown.get(s.id) != s.summary()]
        log_statuses(self.log, changed)
        shown.update((s.id, s.summary()) for s in changed)
        if all_completed(statuses):
            return TriggerEvent({"status": EVENT_SUCCESS, "statuses": [s.as_dict() for s in statuses]})
        return self._timeout_event(statuses, "") if final else None

    @staticmethod
    def _timeout_event(statuses: list[ImportStatus], reason: str) -> TriggerEvent:
        waiting = ", ".join(s.summary() for s in statuses if not s.state.is_terminal) or reason
        return TriggerEvent(
            {
                "status": EVENT_TIMEOUT,
                "message": f"Timed out waiting for Mimecast imports to complete: {waiting}",
                "statuses": [s.as_dict() for s in statuses],
            }
        )


def defer_until_completed(
    task: BaseOperator,
    *,
    import_ids: list[str],
    mimecast_conn_id: str,
    poll_interval: float,
    timeout: float,
    hook_params: dict[str, Any],
) -> NoReturn:
    """Defer ``task`` to a :class:`MimecastImportStatusTrigger` whose deadline is ``timeout`` from now;
    the task resumes in its ``execute_complete``.
    """
    task.defer(
        trigger=MimecastImportStatusTrigger(
            import_ids=import_ids,
            mimecast_conn_id=mimecast_conn_id,
            poll_interval=poll_interval,
            end_time=time.time() + timeout,
            hook_params=hook_params,
        ),
        method_name="execute_complete",
        # A backstop only: should the trigger never fire, Airflow still ends the wait.
        timeout=timedelta(seconds=timeout + poll_interval + DEFERRAL_GRACE_SECONDS),
    )
