"""MimecastImportStatusTrigger: waits for imports in the triggerer without holding a worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, NoReturn

from airflow.providers.common.compat.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mimecast.completion import EVENT_ERROR, EVENT_SUCCESS, EVENT_TIMEOUT, log_statuses
from airflow_provider_mimecast.errors import MimecastError
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.status import all_completed

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
        hook = MimecastHook(self.mimecast_conn_id, **self.hook_params)
        while True:
            try:
                statuses = await hook.aget_import_status(self.import_ids)
                done = all_completed(statuses)
            except MimecastError as error:
                yield TriggerEvent({"status": EVENT_ERROR, "message": str(error)})
                return
            log_statuses(self.log, statuses)
            if done:
                yield TriggerEvent({"status": EVENT_SUCCESS, "statuses": [s.as_dict() for s in statuses]})
                return
            remaining = self.end_time - time.time()
            if remaining <= 0:
                waiting = ", ".join(s.summary() for s in statuses if not s.state.is_terminal)
                yield TriggerEvent(
                    {
                        "status": EVENT_TIMEOUT,
                        "message": f"Timed out waiting for Mimecast imports to complete: {waiting}",
                        "statuses": [s.as_dict() for s in statuses],
                    }
                )
                return
            # The last sleep ends at the deadline, so the final check happens there.
            await asyncio.sleep(min(self.poll_interval, remaining))


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
