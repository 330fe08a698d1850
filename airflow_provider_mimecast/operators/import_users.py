"""MimecastImportUsersOperator: start a user import, and optionally wait for it like the sensor does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_mimecast.endpoints import IMPORT_USERS
from airflow_provider_mimecast.errors import MimecastConfigurationError, MimecastError, certainly_not_executed
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.import_file import SHOWN_IN_MESSAGE, check_invalid_rows
from airflow_provider_mimecast.operators.group_sync import GroupSync, check_sync_options
from airflow_provider_mimecast.operators.lineage import ImportLineageMixin
from airflow_provider_mimecast.operators.record_store import RetryRecordStore
from airflow_provider_mimecast.operators.retry_record import RetryRecord, after_resumed_import, resumed_import
from airflow_provider_mimecast.outlets import note_started, report_result
from airflow_provider_mimecast.sensors.import_wait import ImportWait
from airflow_provider_mimecast.sync_guard import DEFAULT_MAX_REMOVALS
from airflow_provider_mimecast.uploads import Upload, load_upload
from airflow_provider_mimecast.wait_outcome import event_result

if TYPE_CHECKING:
    from airflow.sdk import Context


class MimecastImportUsersOperator(ImportLineageMixin, BaseOperator):
    """Uploads a user file to Mimecast's import-users and returns the new import's ID.

    The ID is the return value and is also pushed under the XCom key ``import_id``. With
    ``wait_for_completion=True`` the operator then waits exactly as :class:`MimecastImportStatusSensor`
    does (same trigger when deferrable, same fail-fast rules) and returns the final status dict instead.

    A retry never uploads twice: the operator keeps a record of its upload (in the task instance's task
    state on Airflow 3.3, else in an Airflow Variable: :mod:`~airflow_provider_mimecast.operators.retry_record`),
    so a later try of the task instance resumes
    the import or refuses to upload again; docs/importing.rst ("No duplicate imports") says how.
    The operator's own ``timeout`` fails the task without a retry, as a sensor's does.

    :param source: a file path (templated), ``pathlib.Path``, ``ObjectStoragePath``, bytes, or a list of
        row dicts (keys ``email``, ``name``, ...) written as CSV.
    :param group_id: secure ID of the destination profile group (templated).
    :param group_name: the destination group's name or folder path instead, e.g. ``"Sales"`` or
        ``"EMEA/Sales"`` (templated), found with :meth:`MimecastHook.find_group` when the task runs.
        Give exactly one of ``group_id`` and ``group_name``.
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
    :param retry_ambiguous_failures: upload again even after Mimecast may have accepted an upload (in the
        hook, and on a later try of the task), accepting the risk of a duplicate import.
    :param hook_params: keyword arguments for :class:`MimecastHook`, passed to the trigger as well.
    :param end_from_trigger: not an option of this operator: ``True`` is refused when the DAG is parsed, since
        the task always ends on a worker (after a completed import it reads the group there: ``not_in_group``,
        ``remove_missing``). Wait with :class:`MimecastImportStatusSensor` (``end_from_trigger=True``) to end
        in the triggerer.
    :param check_before_deferring: with ``wait_for_completion`` and ``deferrable``, check the new import
        once on the worker before deferring (default); False defers at once.
    :param invalid_rows: what a user row whose address Mimecast would refuse does: ``fail`` (default)
        fails the task before upload; ``drop`` uploads the other rows of a CSV and pushes what was sent and
        dropped under the XCom key ``upload_rows`` (docs/importing.rst).
    :param max_removals: the deletion guard of an import that removes members (``clear_group`` or
        ``remove_missing``): the most members it may remove, a count (``200``) or a fraction of the group
        (``0.2``), templated (text such as ``"200"`` or ``"0.2"`` is read as a number); ``"default"`` refuses
        more than 10 members and more than 10% of the group; None turns the guard off (logged as a warning).
        A refusal is :class:`~airflow_provider_mimecast.errors.MimecastSyncGuardError`, before anything is sent.
    :param dry_run: plan only: push XCom ``import_plan``, log it, upload nothing, succeed.
    :param skip_if_unchanged: upload nothing when the plan adds, removes and renames no one (only ``email``
        and ``name`` are compared).
    :param remove_missing: with ``wait_for_completion``, import without emptying the group, then remove the
        members the file lacks (exclusive with ``clear_group``; under the same guard).

    The import is planned against the group first (XCom ``import_plan``), and after a completed import the
    file's users the group lacks are pushed as XCom ``not_in_group`` (docs/importing.rst, "Syncing a group").
    """

    template_fields: Sequence[str] = (
        "source",
        "group_id",
        "group_name",
        "notify_email_address",
        "mimecast_conn_id",
        "max_removals",
    )

    def __init__(
        self,
        *,
        source: Any,
        group_id: str | None = None,
        group_name: str | None = None,
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
        invalid_rows: str = "fail",
        end_from_trigger: bool = False,
        check_before_deferring: bool = True,
        max_removals: int | float | str | None = DEFAULT_MAX_REMOVALS,
        dry_run: bool = False,
        skip_if_unchanged: bool = False,
        remove_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_sync_options(
            task_id=self.task_id,
            clear_group=clear_group,
            remove_missing=remove_missing,
            wait_for_completion=wait_for_completion,
            end_from_trigger=end_from_trigger,
            dry_run=dry_run,
        )
        self.max_removals = max_removals
        # Not self.dry_run: BaseOperator.dry_run() is Airflow's own method.
        self.plan_only = dry_run
        self.skip_if_unchanged = skip_if_unchanged
        self.remove_missing = remove_missing
        if not check_before_deferring and not (wait_for_completion and deferrable):
            self.log.warning(
                "check_before_deferring=False has no effect without wait_for_completion=True and "
                "deferrable=True (task %s)",
                self.task_id,
            )
        self.check_before_deferring = check_before_deferring
        self.invalid_rows = check_invalid_rows(invalid_rows)
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if (group_id is None) == (group_name is None):
            raise MimecastConfigurationError(
                "Pass exactly one of group_id (the group's secure ID) and group_name (its name or folder "
                f"path, e.g. 'EMEA/Sales'); got {'both' if group_id is not None else 'neither'}"
            )
        self.source = source
        self.group_id = group_id
        self.group_name = group_name
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
        upload = load_upload(self.source, file_type=self.file_type, invalid_rows=self.invalid_rows)
        self._log_rows(upload)
        # Resolved on every try, before the retry record compares arguments: a group renamed or moved
        # between tries is a different destination, and the record keeps the ID that was used.
        group_id = self._group_id()
        record_store = RetryRecordStore.for_task(context, self.log)
        wanted = RetryRecord.before_upload(upload, self._arguments(upload, group_id), record_store.try_number)
        sync = self._sync(upload, group_id)
        import_id = resumed_import(
            record_store, wanted, retry_ambiguous_failures=self.retry_ambiguous_failures, log=self.log
        )
        if import_id is None:
            # The plan and its deletion guard come right before an upload, not before a resumed import.
            planned = sync.before_upload(
                context, dry_run=self.plan_only, skip_if_unchanged=self.skip_if_unchanged
            )
            if planned is not None:
                return planned
            import_id = self._upload(upload, group_id, record_store, wanted)
        note_started(self, import_id, group_id=group_id)
        context["ti"].xcom_push(key="import_id", value=import_id)
        if self.invalid_rows == "drop":
            context["ti"].xcom_push(key="upload_rows", value=upload.rows_report())
        if not self.wait_for_completion:
            record_store.delete()
            report_result(self, context, import_id, group_id=group_id, with_group=True)
            return import_id
        result = sync.after_import(context, lambda: self._wait(import_id))
        record_store.delete()
        report_result(self, context, result, group_id=group_id, with_group=True)
        return result

    def _sync(self, upload: Upload, group_id: str) -> GroupSync:
        return GroupSync(
            self.hook,
            group_id=group_id,
            group_name=self.group_name,
            upload=upload,
            removes=self.clear_group or self.remove_missing,
            remove_missing=self.remove_missing,
            max_removals=self.max_removals,
            log=self.log,
        )

    def _upload(
        self, upload: Upload, group_id: str, record_store: RetryRecordStore, wanted: RetryRecord
    ) -> str:
        """Upload after recording the intent, so that a try interrupted mid-upload is known to a retry."""
        record_store.record_intent(wanted)
        if self.clear_group:
            self.log.warning("clear_group=True: Mimecast empties group %s before importing", group_id)
        try:
            import_id = self.hook.import_users(
                upload,
                group_id=group_id,
                notify_email_address=self.notify_email_address,
                clear_group=self.clear_group,
                allow_address_migration=self.allow_address_migration,
                file_type=self.file_type,
                retry_ambiguous_failures=self.retry_ambiguous_failures,
            )
        except MimecastError as error:
            if certainly_not_executed(error, path=IMPORT_USERS.path):
                # Nothing reached Mimecast: Airflow's retry may upload as if this try never happened.
                record_store.delete()
            raise
        record_store.write(replace(wanted, import_id=import_id))
        return import_id

    def _log_rows(self, upload: Upload) -> None:
        """Log what the check of every row found."""
        if upload.dropped:
            shown = "; ".join(
                problem.describe(upload.unit) for problem in upload.dropped_rows[:SHOWN_IN_MESSAGE]
            )
            self.log.warning(
                "invalid_rows='drop': %d user row(s) of %r left out, with an address Mimecast would refuse "
                "(%s%s); sending %d users",
                upload.dropped,
                upload.name,
                shown,
                "; ..." if upload.dropped > SHOWN_IN_MESSAGE else "",
                upload.users,
            )
        elif upload.users is not None:
            self.log.info("All %d user rows of %r have a valid email address", upload.users, upload.name)

    def _group_id(self) -> str:
        """The destination group's secure ID: ``group_id``, or ``group_name`` looked up in the directory."""
        if self.group_name is None:
            return self.group_id or ""  # import_users refuses a blank ID, naming group_id
        if not isinstance(self.group_name, str) or not self.group_name.strip():
            raise MimecastConfigurationError(
                f"group_name is {self.group_name!r}: pass the group's name or folder path, e.g. 'EMEA/Sales'"
            )
        return self.hook.find_group(self.group_name).id

    def _arguments(self, upload: Upload, group_id: str) -> dict[str, Any]:
        """What besides the bytes makes two uploads the same import (none of it secret)."""
        return {
            "group_id": group_id,
            "notify_email_address": self.notify_email_address,
            "clear_group": self.clear_group,
            "allow_address_migration": self.allow_address_migration,
            "file_type": upload.file_type,
        }

    def _wait(self, import_id: str) -> dict[str, Any] | list[dict[str, Any]]:
        """Wait for the import as the sensor does (:mod:`~airflow_provider_mimecast.sensors.import_wait`);
        deferred, the task always resumes on a worker, in :meth:`execute_complete`.
        """
        return ImportWait(
            self,
            mimecast_conn_id=self.mimecast_conn_id,
            hook_params=self.hook_params,
            poll_interval=self.poll_interval,
            timeout=self.timeout,
            deferrable=self.deferrable,
            check_before_deferring=self.check_before_deferring,
        ).until_completed(import_id, fail_on_partial_import=self.fail_on_partial_import, task_hook=self.hook)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: success returns the final status, errors raise."""
        record_store = RetryRecordStore.for_task(context, self.log)
        result = after_resumed_import(
            self,
            context,
            record_store,
            lambda: event_result(
                event, single=True, fail_on_partial_import=self.fail_on_partial_import, log=self.log
            ),
        )
        group_id = (
            record_store.recorded_group_id() or self.group_id
        )  # resolved from group_name before deferring
        record_store.delete()
        report_result(self, context, result, group_id=group_id, with_group=True)
        return result
