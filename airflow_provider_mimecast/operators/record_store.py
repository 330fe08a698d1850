"""Where the import operator's retry record lives (docs/importing.rst, "No duplicate imports"):
:class:`RetryRecordStore` reads, writes and deletes it through one of two backends, chosen by what the
running Airflow offers:

- **Airflow 3.3 and later**: the task instance's own task state (AIP-103, ``context["task_state_store"]``),
  scoped to the DAG run, task and map index and the same across tries, kept out of users' Variables.
- **Airflow 2.11 to 3.2**: an Airflow Variable keyed by a hash of the same identity.

Only the task reads and deletes its record, on a worker: the operator never ends in the triggerer.

A backend speaks JSON objects; every error it meets is left to :class:`RetryRecordStore`, which turns it
into a :class:`~airflow_provider_mimecast.errors.MimecastError` or a warning.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from airflow.providers.common.compat.sdk import Variable

from airflow_provider_mimecast.errors import MimecastError
from airflow_provider_mimecast.operators.retry_record import RetryRecord, retry_record_key

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "TASK_STATE_KEY",
    "NotARecord",
    "RecordBackend",
    "RetryRecordStore",
    "TaskStateBackend",
    "VariableBackend",
]

#: The task state key of the retry record (one per task instance: the scope is Airflow's).
TASK_STATE_KEY = "mimecast_started_import"
#: Airflow 3.3's ``NEVER_EXPIRE`` (``timedelta.max``): a record outlives ``[state_store]
#: default_retention_days``, so that clearing a task that failed long ago still resumes or refuses.
NEVER_EXPIRE = timedelta.max


class NotARecord(ValueError):
    """The backend holds something under the record's name that is not a JSON object."""


def _checked(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise NotARecord(f"it holds {type(value).__name__}, not a JSON object")
    return value


class RecordBackend(Protocol):
    """One task instance's record: read, written and deleted whole."""

    #: Where the record is, for log lines and for the error that tells a user how to remove it.
    where: str
    #: How to remove it by hand (to force a fresh upload).
    how_to_delete: str

    def get(self) -> dict[str, Any] | None: ...

    def set(self, value: dict[str, Any]) -> None: ...

    def delete(self) -> None: ...


class VariableBackend:
    """The record as the JSON text of an Airflow Variable (every Airflow line)."""

    def __init__(self, key: str, description: str = "") -> None:
        self.key = key
        self.description = description
        self.where = f"Variable {key}"
        self.how_to_delete = f"delete Variable {key}"

    def get(self) -> dict[str, Any] | None:
        text = Variable.get(self.key, None)
        if text is None:
            return None
        try:
            return _checked(json.loads(text))
        except ValueError as error:
            raise NotARecord(str(error)) from error

    def set(self, value: dict[str, Any]) -> None:
        Variable.set(self.key, json.dumps(value, sort_keys=True), description=self.description)

    def delete(self) -> None:
        Variable.delete(self.key)


class TaskStateBackend:
    """The record under :data:`TASK_STATE_KEY` in the task instance's task state (Airflow 3.3+)."""

    def __init__(self, accessor: Any, *, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        self.accessor = accessor
        self.where = f"task state key {TASK_STATE_KEY!r} of this task instance"
        mapped = f"?map_index={map_index}" if map_index >= 0 else ""
        self.how_to_delete = (
            f"delete task state key {TASK_STATE_KEY!r} of this task instance (REST API: DELETE "
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/state-store/{TASK_STATE_KEY}"
            f"{mapped})"
        )

    def get(self) -> dict[str, Any] | None:
        return _checked(self.accessor.get(TASK_STATE_KEY, None))

    def set(self, value: dict[str, Any]) -> None:
        self.accessor.set(TASK_STATE_KEY, value, retention=NEVER_EXPIRE)

    def delete(self) -> None:
        self.accessor.delete(TASK_STATE_KEY)


class RetryRecordStore:
    """The retry record of one task instance: read, written and deleted, so that a later try can resume or
    refuse.

    Airflow clears XComs between tries, but neither task state nor Variables. Its backend is the task
    instance's task state where Airflow offers it (3.3+), else the Variable
    :func:`~.retry_record.retry_record_key`.
    On 3.3 a later try also honours a Variable record that an earlier try wrote before the upgrade, and
    deletes it on success. Only the task, on a worker, reads and deletes the record (the operator never
    ends in the triggerer). Every backend error is handled here: none escapes as anything but a
    :class:`MimecastError`.

    :param log: the task's logger.
    :param backend: where the record is; None keeps none (no task instance to key it by).
    :param try_number: the running try.
    :param legacy: a Variable an earlier try may have written before an upgrade to task state.
    """

    def __init__(
        self,
        *,
        log: Any,
        backend: RecordBackend | None = None,
        try_number: int = 1,
        legacy: VariableBackend | None = None,
    ) -> None:
        self.backend = backend
        self.legacy = legacy
        self._read_from: RecordBackend | None = None
        self.try_number = try_number
        self.log = log

    @property
    def where(self) -> str:
        """Where the record is (the backend it was read from, if another)."""
        backend = self._read_from or self.backend
        return backend.where if backend else "nowhere (no task instance)"

    @property
    def how_to_delete(self) -> str:
        backend = self._read_from or self.backend
        return backend.how_to_delete if backend else ""

    @classmethod
    def for_task(cls, context: Context, log: Any) -> RetryRecordStore:
        """The retry record of the task instance ``context`` runs."""
        ti = context["ti"]
        dag_id, task_id, run_id = (getattr(ti, name, None) for name in ("dag_id", "task_id", "run_id"))
        map_index = getattr(ti, "map_index", -1)
        if not (
            isinstance(dag_id, str) and isinstance(task_id, str) and isinstance(run_id, str)
        ) or not isinstance(map_index, int | None):
            # execute() called by hand with a stand-in context (a DAG's unit test): there is no retry.
            log.warning("The context names no task instance: a retry could not resume this import")
            return cls(log=log)
        mapped = f" map index {map_index}" if map_index is not None and map_index >= 0 else ""
        key = retry_record_key(dag_id, task_id, run_id, map_index)
        variable = VariableBackend(
            key,
            description=(
                f"Mimecast upload by {dag_id}.{task_id}{mapped} in run {run_id}; a retry resumes its import "
                "(or refuses to upload again if its ID is missing). Deleted when the task succeeds."
            ),
        )
        try_number = getattr(ti, "try_number", None) or 1
        accessor = context.get("task_state_store")
        if accessor is None:
            return cls(try_number=try_number, log=log, backend=variable)
        state = TaskStateBackend(
            accessor,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=-1 if map_index is None else map_index,
        )
        # The first try of a task instance has no earlier try whose Variable it could find.
        legacy = variable if try_number > 1 else None
        return cls(try_number=try_number, log=log, backend=state, legacy=legacy)

    def read(self) -> RetryRecord | None:
        if self.backend is None:
            return None
        record = self._read(self.backend)
        if record is not None or self.legacy is None:
            return record
        record = self._read(self.legacy)
        if record is not None:
            self._read_from = self.legacy
            self.log.info(
                "The record of an earlier try is in %s (written before Airflow offered task state): "
                "honouring it, and deleting it when the task succeeds",
                self.legacy.where,
            )
        return record

    def recorded_group_id(self) -> str | None:
        """The destination group of the recorded upload, or None (no record, or an unreadable one)."""
        try:
            record = self.read()
        except MimecastError:
            return None
        return record.group_id if record else None

    def _read(self, backend: RecordBackend) -> RetryRecord | None:
        try:
            value = backend.get()
        except NotARecord as error:
            self.log.warning(
                "%s does not hold a retry record (%s): ignoring it and uploading", backend.where, error
            )
            return None
        except Exception as error:
            if self.try_number <= 1:
                # The first try of a task instance cannot find an import of its own: nothing is lost.
                self.log.warning("Could not read %s (%s); first try, so uploading", backend.where, error)
                return None
            raise MimecastError(
                f"Could not read {backend.where} to check whether an earlier try of this task already "
                f"started a Mimecast import ({type(error).__name__}: {error}). Not uploading, to avoid a "
                "duplicate import; a retry checks again"
            ) from error
        if value is None:
            return None
        try:
            return RetryRecord.from_value(value)
        except (ValueError, KeyError, TypeError) as error:
            self.log.warning(
                "%s does not hold a retry record (%s): ignoring it and uploading", backend.where, error
            )
            return None

    def record_intent(self, wanted: RetryRecord) -> None:
        """Record the upload about to be sent; raise, before anything is sent, if that fails."""
        if self.backend is None:
            return
        try:
            self.backend.set(asdict(wanted))
        except Exception as error:
            raise MimecastError(
                f"Could not record the upload in {self.backend.where} before sending it "
                f"({type(error).__name__}: {error}). Not uploading: without the record, a retry after an "
                "interrupted upload could start a duplicate import; nothing was sent, and a retry tries again"
            ) from error

    def write(self, record: RetryRecord) -> None:
        """Add the import's ID to the record; the import goes on (and is returned) if that fails."""
        if self.backend is None:
            return
        try:
            self.backend.set(asdict(record))
        except Exception as error:
            # The import runs in Mimecast whatever happens here; the record still says an upload was in
            # flight, so a retry refuses to upload again rather than resume it.
            self.log.error(
                "MIMECAST IMPORT %s STARTED, but recording its ID in %s failed (%s: %s). The task "
                "goes on with this import; if it is retried, it will refuse to upload again instead of "
                "resuming the import. To let a retry resume it, set %s to the value %s",
                record.import_id,
                self.backend.where,
                type(error).__name__,
                error,
                self.backend.where,
                json.dumps(asdict(record), sort_keys=True),
            )

    def delete(self) -> None:
        """Delete the record (on success), and an earlier try's Variable still there after an upgrade."""
        for backend in (self.backend, self._read_from or self._legacy_left()):
            if backend is None:
                continue
            try:
                backend.delete()
            except Exception as error:
                self.log.warning(
                    "Could not delete %s (%s: %s): %s by hand, or clearing this task will resume the "
                    "finished import (or refuse to upload) rather than upload again",
                    backend.where,
                    type(error).__name__,
                    error,
                    backend.how_to_delete,
                )

    def _legacy_left(self) -> VariableBackend | None:
        """The earlier tries' Variable if it still holds something (a retry on 3.3 that did not read it)."""
        if self.legacy is None:
            return None
        try:
            return self.legacy if self.legacy.get() is not None else None
        except Exception:  # unreadable or not a record: try deleting it all the same
            return self.legacy
