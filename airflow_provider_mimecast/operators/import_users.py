"""MimecastImportUsersOperator: start a user import, and optionally wait for it like the sensor does."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, BaseOperator, conf

from airflow_provider_mimecast.completion import completed_result, event_result, log_statuses
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.status import all_completed
from airflow_provider_mimecast.triggers.import_status import defer_until_completed

if TYPE_CHECKING:
    from airflow.sdk import Context


class MimecastImportUsersOperator(BaseOperator):
    """Uploads a user file to Mimecast's import-users and returns the new import's ID.

    The ID is the return value and is also pushed under the XCom key ``import_id``. With
    ``wait_for_completion=True`` the operator then waits exactly as :class:`MimecastImportStatusSensor`
    does (same trigger when deferrable, same fail-fast rules) and returns the final status dict instead.

    A task retry uploads again, so keep ``retries`` at 0 when waiting here, or wait in a separate sensor
    task that can retry on its own.

    :param source: a file path (templated), ``pathlib.Path``, ``ObjectStoragePath``, bytes, or a list of
        row dicts written as CSV.
    :param group_id: secure ID of the destination profile group (templated).
    :param notify_email_address: who Mimecast emails when the import completes (templated).
    :param clear_group: empty the group before importing (logged as a warning).
    :param allow_address_migration: place users by each row's ``accountCode`` (AAA structures).
    :param file_type: ``csv``, ``xlsx`` or ``xls``; by default the path's suffix, or csv.
    :param mimecast_conn_id: the ``mimecast`` connection (templated).
    :param wait_for_completion: wait until the import is completed before succeeding.
    :param poll_interval: seconds between two status checks while waiting.
    :param timeout: seconds to wait for completion before failing with ``AirflowSensorTimeout``.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param fail_on_partial_import: fail when the completed import left users out (else a warning).
    :param retry_ambiguous_failures: retry an upload even after Mimecast may have accepted it.
    :param hook_params: keyword arguments for :class:`MimecastHook`, passed to the trigger as well.
    """

    template_fields: Sequence[str] = ("source", "group_id", "notify_email_address", "mimecast_conn_id")

    def __init__(
        self,
        *,
        source: Any,
        group_id: str,
        notify_email_address: str | None = None,
        clear_group: bool = False,
        allow_address_migration: bool = False,
        file_type: str | None = None,
        mimecast_conn_id: str = MimecastHook.default_conn_name,
        wait_for_completion: bool = False,
        poll_interval: float = 60.0,
        timeout: float = 6 * 60 * 60,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        fail_on_partial_import: bool = False,
        retry_ambiguous_failures: bool = False,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.source = source
        self.group_id = group_id
        self.notify_email_address = notify_email_address
        self.clear_group = clear_group
        self.allow_address_migration = allow_address_migration
        self.file_type = file_type
        self.mimecast_conn_id = mimecast_conn_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deferrable = deferrable
        self.fail_on_partial_import = fail_on_partial_import
        self.retry_ambiguous_failures = retry_ambiguous_failures
        self.hook_params = dict(hook_params or {})

    @cached_property
    def hook(self) -> MimecastHook:
        return MimecastHook(self.mimecast_conn_id, **self.hook_params)

    def execute(self, context: Context) -> Any:
        if self.clear_group:
            self.log.warning("clear_group=True: Mimecast empties group %s before importing", self.group_id)
        import_id = self.hook.import_users(
            self.source,
            group_id=self.group_id,
            notify_email_address=self.notify_email_address,
            clear_group=self.clear_group,
            allow_address_migration=self.allow_address_migration,
            file_type=self.file_type,
            retry_ambiguous_failures=self.retry_ambiguous_failures,
        )
        context["ti"].xcom_push(key="import_id", value=import_id)
        if not self.wait_for_completion:
            return import_id
        return self._wait(import_id)

    def _wait(self, import_id: str) -> dict[str, Any] | list[dict[str, Any]]:
        deadline = time.monotonic() + self.timeout
        while True:
            statuses = self.hook.get_import_status([import_id])
            log_statuses(self.log, statuses)
            if all_completed(statuses):
                return completed_result(
                    statuses, single=True, fail_on_partial_import=self.fail_on_partial_import, log=self.log
                )
            if self.deferrable:
                defer_until_completed(
                    self,
                    import_ids=[import_id],
                    mimecast_conn_id=self.mimecast_conn_id,
                    poll_interval=self.poll_interval,
                    timeout=self.timeout,
                    hook_params=self.hook_params,
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AirflowSensorTimeout(
                    f"Mimecast import {import_id} did not complete within {self.timeout:.0f} s "
                    f"({statuses[0].summary()}); it goes on in Mimecast: wait for it with "
                    "MimecastImportStatusSensor rather than starting it again"
                )
            time.sleep(min(self.poll_interval, remaining))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: success returns the final status, errors raise."""
        return event_result(
            event, single=True, fail_on_partial_import=self.fail_on_partial_import, log=self.log
        )
