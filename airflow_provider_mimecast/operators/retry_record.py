"""The retry record of :class:`~airflow_provider_mimecast.operators.import_users.MimecastImportUsersOperator`:
the upload one task instance made, kept across tries so that a later try resumes its import or refuses to
upload again (docs/importing.rst, "No duplicate imports"): in the task instance's task state on Airflow 3.3+,
in an Airflow Variable before (:mod:`~airflow_provider_mimecast.operators.record_store`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_mimecast.errors import MimecastError
from airflow_provider_mimecast.operators.record_store import (
    NotARecord,
    RecordStore,
    TaskStateRecordStore,
    VariableRecordStore,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["VARIABLE_PREFIX", "RetryRecord", "StartedImport", "started_import_key"]


#: Prefix of the Variables that remember started imports across tries. No "/": Airflow 3.0's Execution API
#: answers 404 for a Variable key holding one (its routes take the key as one path segment).
VARIABLE_PREFIX = "mimecast_import_users."


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
class StartedImport:
    """An upload a try of the task made, as kept in its Variable (JSON): recorded before it is sent,
    with ``import_id`` empty until Mimecast's answer gives it.
    """

    import_id: str
    sha256: str
    size: int
    arguments: dict[str, Any]
    #: When the upload was about to be sent (ISO 8601, UTC), and by which try; absent from older records.
    started_at: str = ""
    try_number: int = 0

    def same_upload(self, other: StartedImport) -> bool:
        return self.sha256 == other.sha256 and self.arguments == other.arguments

    def difference(self, now: StartedImport) -> str:
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
    def from_json(cls, text: str) -> StartedImport:
        return cls.from_value(json.loads(text))

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> StartedImport:
        started = cls(
            import_id=value["import_id"],
            sha256=value["sha256"],
            size=value["size"],
            arguments=value["arguments"],
            started_at=value.get("started_at", ""),
            try_number=value.get("try_number", 0),
        )
        if not (
            isinstance(started.import_id, str)
            and isinstance(started.sha256, str)
            and started.sha256
            and isinstance(started.arguments, dict)
            and isinstance(started.started_at, str)
            and isinstance(started.try_number, int)
        ):
            raise ValueError("import_id must be a string, sha256 a non-empty one, and arguments an object")
        return started


class RetryRecord:
    """The record of the upload one task instance made, so that a later try can resume or refuse.

    Airflow clears XComs between tries, but neither task state nor Variables. The store is the task
    instance's task state where Airflow offers it (3.3+), else the Variable :func:`started_import_key`.
    On 3.3 a later try also honours a Variable record that an earlier try wrote before the upgrade, and
    deletes it on success. Only the task, on a worker, reads and deletes the record (the operator never
    ends in the triggerer). Every store error is handled here: none escapes as anything but a
    :class:`MimecastError`.

    :param log: the task's logger.
    :param store: where the record is; None keeps none (no task instance to key it by).
    :param try_number: the running try.
    :param legacy: a Variable an earlier try may have written before an upgrade to task state.
    """

    def __init__(
        self,
        *,
        log: Any,
        store: RecordStore | None = None,
        try_number: int = 1,
        legacy: VariableRecordStore | None = None,
    ) -> None:
        self.store = store
        self.legacy = legacy
        self._read_from: RecordStore | None = None
        self.try_number = try_number
        self.log = log

    @property
    def where(self) -> str:
        """Where the record is (the store it was read from, if another)."""
        store = self._read_from or self.store
        return store.where if store else "nowhere (no task instance)"

    @property
    def how_to_delete(self) -> str:
        store = self._read_from or self.store
        return store.how_to_delete if store else ""

    @classmethod
    def for_task(cls, context: Context, log: Any) -> RetryRecord:
        """The record of the task instance ``context`` runs."""
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
        key = started_import_key(dag_id, task_id, run_id, map_index)
        variable = VariableRecordStore(
            key,
            description=(
                f"Mimecast upload by {dag_id}.{task_id}{mapped} in run {run_id}; a retry resumes its import "
                "(or refuses to upload again if its ID is missing). Deleted when the task succeeds."
            ),
        )
        try_number = getattr(ti, "try_number", None) or 1
        accessor = context.get("task_state_store")
        if accessor is None:
            return cls(try_number=try_number, log=log, store=variable)
        state = TaskStateRecordStore(
            accessor,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=-1 if map_index is None else map_index,
        )
        # The first try of a task instance has no earlier try whose Variable it could find.
        legacy = variable if try_number > 1 else None
        return cls(try_number=try_number, log=log, store=state, legacy=legacy)

    def read(self) -> StartedImport | None:
        if self.store is None:
            return None
        started = self._read(self.store)
        if started is not None or self.legacy is None:
            return started
        started = self._read(self.legacy)
        if started is not None:
            self._read_from = self.legacy
            self.log.info(
                "The record of an earlier try is in %s (written before Airflow offered task state): "
                "honouring it, and deleting it when the task succeeds",
                self.legacy.where,
            )
        return started

    def recorded_group_id(self) -> str | None:
        """The destination group of the recorded upload, or None (no record, or an unreadable one)."""
        try:
            started = self.read()
        except MimecastError:
            return None
        group_id = started.arguments.get("group_id") if started else None
        return group_id if isinstance(group_id, str) else None

    def _read(self, store: RecordStore) -> StartedImport | None:
        try:
            value = store.get()
        except NotARecord as error:
            self.log.warning(
                "%s does not hold a started import (%s): ignoring it and uploading", store.where, error
            )
            return None
        except Exception as error:
            if self.try_number <= 1:
                # The first try of a task instance cannot find an import of its own: nothing is lost.
                self.log.warning("Could not read %s (%s); first try, so uploading", store.where, error)
                return None
            raise MimecastError(
                f"Could not read {store.where} to check whether an earlier try of this task already "
                f"started a Mimecast import ({type(error).__name__}: {error}). Not uploading, to avoid a "
                "duplicate import; a retry checks again"
            ) from error
        if value is None:
            return None
        try:
            return StartedImport.from_value(value)
        except (ValueError, KeyError, TypeError) as error:
            self.log.warning(
                "%s does not hold a started import (%s): ignoring it and uploading", store.where, error
            )
            return None

    def record_intent(self, wanted: StartedImport) -> None:
        """Record the upload about to be sent; raise, before anything is sent, if that fails."""
        if self.store is None:
            return
        try:
            self.store.set(asdict(wanted))
        except Exception as error:
            raise MimecastError(
                f"Could not record the upload in {self.store.where} before sending it "
                f"({type(error).__name__}: {error}). Not uploading: without the record, a retry after an "
                "interrupted upload could start a duplicate import; nothing was sent, and a retry tries again"
            ) from error

    def write(self, started: StartedImport) -> None:
        """Add the import's ID to the record; the import goes on (and is returned) if that fails."""
        if self.store is None:
            return
        try:
            self.store.set(asdict(started))
        except Exception as error:
            # The import runs in Mimecast whatever happens here; the record still says an upload was in
            # flight, so a retry refuses to upload again rather than resume it.
            self.log.error(
                "MIMECAST IMPORT %s STARTED, but recording its ID in %s failed (%s: %s). The task "
                "goes on with this import; if it is retried, it will refuse to upload again instead of "
                "resuming the import. To let a retry resume it, set %s to the value %s",
                started.import_id,
                self.store.where,
                type(error).__name__,
                error,
                self.store.where,
                json.dumps(asdict(started), sort_keys=True),
            )

    def delete(self) -> None:
        """Delete the record (on success), and an earlier try's Variable still there after an upgrade."""
        for store in (self.store, self._read_from or self._legacy_left()):
            if store is None:
                continue
            try:
                store.delete()
            except Exception as error:
                self.log.warning(
                    "Could not delete %s (%s: %s): %s by hand, or clearing this task will resume the "
                    "finished import (or refuse to upload) rather than upload again",
                    store.where,
                    type(error).__name__,
                    error,
                    store.how_to_delete,
                )

    def _legacy_left(self) -> VariableRecordStore | None:
        """The earlier tries' Variable if it still holds something (a retry on 3.3 that did not read it)."""
        if self.legacy is None:
            return None
        try:
            return self.legacy if self.legacy.get() is not None else None
        except Exception:  # unreadable or not a record: try deleting it all the same
            return self.legacy
