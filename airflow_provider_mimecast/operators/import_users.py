"""MimecastImportUsersOperator: start a user import, and optionally wait for it like the sensor does."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, BaseOperator, Variable, conf

from airflow_provider_mimecast.completion import completed_result, event_result, log_statuses
from airflow_provider_mimecast.errors import MimecastConfigurationError, MimecastError
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.import_file import SHOWN_IN_MESSAGE, check_invalid_rows
from airflow_provider_mimecast.status import all_completed
from airflow_provider_mimecast.triggers.import_status import defer_until_completed
from airflow_provider_mimecast.uploads import Upload, load_upload

if TYPE_CHECKING:
    from airflow.sdk import Context


class MimecastImportUsersOperator(BaseOperator):
    """Uploads a user file to Mimecast's import-users and returns the new import's ID.

    The ID is the return value and is also pushed under the XCom key ``import_id``. With
    ``wait_for_completion=True`` the operator then waits exactly as :class:`MimecastImportStatusSensor`
    does (same trigger when deferrable, same fail-fast rules) and returns the final status dict instead.

    With ``wait_for_completion=True`` a retry does not upload again. Once Mimecast has accepted the
    upload, the import's ID and the SHA-256 of the bytes sent are kept in an Airflow Variable named
    ``mimecast_import_users/<hash>``, one per DAG, task, run and map index (XComs are cleared between
    tries; the Variable's description names the task instance, the log its key). A later try of the same
    task instance (a retry, or the task cleared by hand) with the same content and arguments resumes
    waiting on that import instead of uploading again, and returns and pushes its ID as usual; if the file
    changed, it is uploaded as a new import and the log says why. The Variable is deleted when the task
    succeeds and kept when it fails for good, so clearing the task later resumes the import too: delete
    the Variable to force a new upload. If it cannot be written, the import goes on, its ID is still
    returned, and an error in the log gives the ID and the value to set by hand; if it cannot be read on
    a retry, the task fails rather than risk a duplicate import. It holds the import ID, the digest and the
    import's arguments: no secret. Without a wait the task ends right after the upload, and nothing is kept.
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
    :param retry_ambiguous_failures: retry an upload even after Mimecast may have accepted it.
    :param hook_params: keyword arguments for :class:`MimecastHook`, passed to the trigger as well.
    :param invalid_rows: what a user row whose address Mimecast would refuse does: ``fail`` (default)
        fails the task before upload; ``drop`` uploads the other rows of a CSV and pushes what was sent and
        dropped under the XCom key ``upload_rows`` (docs/importing.rst).
    """

    template_fields: Sequence[str] = (
        "source",
        "group_id",
        "group_name",
        "notify_email_address",
        "mimecast_conn_id",
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
        # Resolved on every try, before the ledger compares arguments: a group renamed or moved between
        # tries is a different destination, and the ledger records the ID that was used.
        group_id = self._group_id()
        # Only a wait can end a try between the upload and success (a timeout, a lost worker); without one
        # the task succeeds right after the upload and there is nothing for a retry to resume.
        ledger = _Ledger.for_task(context, self.log) if self.wait_for_completion else _Ledger(log=self.log)
        wanted = _StartedImport(
            import_id="",
            sha256=hashlib.sha256(upload.content).hexdigest(),
            size=len(upload.content),
            arguments=self._arguments(upload, group_id),
        )
        started = ledger.read()
        if started is not None and started.same_upload(wanted):
            import_id = started.import_id
            self.log.info(
                "Mimecast import %s was started by an earlier try of this task with the same content "
                "(sha256 %s): resuming it instead of uploading again (Variable %s)",
                import_id,
                started.sha256,
                ledger.key,
            )
        else:
            if started is not None:
                self.log.warning(
                    "An earlier try of this task started Mimecast import %s, but %s: uploading anew as a "
                    "new import (import %s goes on in Mimecast)",
                    started.import_id,
                    started.difference(wanted),
                    started.import_id,
                )
            if self.clear_group:
                self.log.warning("clear_group=True: Mimecast empties group %s before importing", group_id)
            import_id = self.hook.import_users(
                upload,
                group_id=group_id,
                notify_email_address=self.notify_email_address,
                clear_group=self.clear_group,
                allow_address_migration=self.allow_address_migration,
                file_type=self.file_type,
                retry_ambiguous_failures=self.retry_ambiguous_failures,
            )
            ledger.write(replace(wanted, import_id=import_id))
        context["ti"].xcom_push(key="import_id", value=import_id)
        if self.invalid_rows == "drop":
            context["ti"].xcom_push(key="upload_rows", value=upload.rows_report())
        if not self.wait_for_completion:
            return import_id
        result = self._wait(import_id)
        ledger.delete()
        return result

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
                    f"({statuses[0].summary()}); it goes on in Mimecast: clearing this task resumes "
                    "waiting on it, or wait for it with MimecastImportStatusSensor"
                )
            time.sleep(min(self.poll_interval, remaining))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: success returns the final status, errors raise."""
        result = event_result(
            event, single=True, fail_on_partial_import=self.fail_on_partial_import, log=self.log
        )
        _Ledger.for_task(context, self.log).delete()
        return result


#: Prefix of the Variables that remember started imports across tries.
VARIABLE_PREFIX = "mimecast_import_users/"


def started_import_key(dag_id: str, task_id: str, run_id: str, map_index: int | None) -> str:
    """The Variable key under which a task instance keeps the import it started, until it succeeds.

    A hash of the exact identity: it cannot collide across DAGs, tasks, runs or map indexes, whatever
    characters they hold, and stays within Variable's 250-character key limit.

    :param dag_id: the DAG's ID.
    :param task_id: the task's ID.
    :param run_id: the DAG run's ID.
    :param map_index: the mapped task's index (-1 or None when not mapped).
    """
    identity = [dag_id, task_id, run_id, -1 if map_index is None else map_index]
    return VARIABLE_PREFIX + hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _StartedImport:
    """An import a try of the task started, as kept in its Variable (JSON)."""

    import_id: str
    sha256: str
    size: int
    arguments: dict[str, Any]

    def same_upload(self, other: _StartedImport) -> bool:
        return self.sha256 == other.sha256 and self.arguments == other.arguments

    def difference(self, now: _StartedImport) -> str:
        if self.sha256 != now.sha256:
            return (
                f"the content differs (then sha256 {self.sha256}, {self.size} bytes; now sha256 "
                f"{now.sha256}, {now.size} bytes)"
            )
        changed = sorted(
            k for k in {*self.arguments, *now.arguments} if self.arguments.get(k) != now.arguments.get(k)
        )
        return (
            "the arguments differ ("
            + ", ".join(f"{k}: then {self.arguments.get(k)!r}, now {now.arguments.get(k)!r}" for k in changed)
            + ")"
        )

    @classmethod
    def from_json(cls, text: str) -> _StartedImport:
        value = json.loads(text)
        started = cls(
            import_id=value["import_id"],
            sha256=value["sha256"],
            size=value["size"],
            arguments=value["arguments"],
        )
        if not (
            isinstance(started.import_id, str) and started.import_id and isinstance(started.arguments, dict)
        ):
            raise ValueError("import_id must be a non-empty string and arguments an object")
        return started


class _Ledger:
    """The Variable that remembers the import one task instance started, so a retry can resume it.

    Airflow clears XComs between tries, but not Variables. The key is :func:`started_import_key`; the
    Variable's description says which task instance it belongs to.
    Every Variable error is handled here: none escapes as anything but a :class:`MimecastError`.
    """

    def __init__(
        self, *, key: str | None = None, description: str = "", try_number: int = 1, log: Any
    ) -> None:
        self.key = key
        self.description = description
        self.try_number = try_number
        self.log = log

    @classmethod
    def for_task(cls, context: Context, log: Any) -> _Ledger:
        ti = context["ti"]
        dag_id, task_id, run_id = (getattr(ti, name, None) for name in ("dag_id", "task_id", "run_id"))
        map_index = getattr(ti, "map_index", -1)
        if not (
            isinstance(dag_id, str) and isinstance(task_id, str) and isinstance(run_id, str)
        ) or not isinstance(map_index, int | None):
            # execute() called by hand with a stand-in context (a DAG's unit test): there is no retry.
            log.warning("The context names no task instance: a retry could not resume this import")
            return cls(key=None, log=log)
        mapped = f" map index {map_index}" if map_index is not None and map_index >= 0 else ""
        return cls(
            key=started_import_key(dag_id, task_id, run_id, map_index),
            description=(
                f"Mimecast import started by {dag_id}.{task_id}{mapped} in run {run_id}; a retry resumes it "
                "instead of uploading again. Deleted when the task succeeds."
            ),
            try_number=getattr(ti, "try_number", None) or 1,
            log=log,
        )

    def read(self) -> _StartedImport | None:
        if self.key is None:
            return None
        try:
            text = Variable.get(self.key, None)
        except Exception as error:
            if self.try_number <= 1:
                # The first try of a task instance cannot find an import of its own: nothing is lost.
                self.log.warning("Could not read Variable %s (%s); first try, so uploading", self.key, error)
                return None
            raise MimecastError(
                f"Could not read Variable {self.key} to check whether an earlier try of this task already "
                f"started a Mimecast import ({type(error).__name__}: {error}). Not uploading, to avoid a "
                "duplicate import; a retry checks again"
            ) from error
        if text is None:
            return None
        try:
            return _StartedImport.from_json(text)
        except (ValueError, KeyError, TypeError) as error:
            self.log.warning(
                "Variable %s does not hold a started import (%s): ignoring it and uploading", self.key, error
            )
            return None

    def write(self, started: _StartedImport) -> None:
        if self.key is None:
            return
        value = json.dumps(asdict(started), sort_keys=True)
        try:
            Variable.set(self.key, value, description=self.description)
        except Exception as error:
            # The import runs in Mimecast whatever happens here; only its record for a retry is missing.
            self.log.error(
                "MIMECAST IMPORT %s STARTED, but recording it in Variable %s failed (%s: %s). The task goes "
                "on with this import; if it is retried, it will upload again and start a DUPLICATE import. "
                "To prevent that, create Variable %s with the value %s",
                started.import_id,
                self.key,
                type(error).__name__,
                error,
                self.key,
                value,
            )

    def delete(self) -> None:
        if self.key is None:
            return
        try:
            Variable.delete(self.key)
        except Exception as error:
            self.log.warning(
                "Could not delete Variable %s (%s: %s): delete it by hand, or clearing this task will resume "
                "the finished import rather than upload again",
                self.key,
                type(error).__name__,
                error,
            )
