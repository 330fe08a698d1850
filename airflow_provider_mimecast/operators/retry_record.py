"""The retry record of :class:`~airflow_provider_mimecast.operators.import_users.MimecastImportUsersOperator`:
the upload one task instance made, kept in an Airflow Variable so that a later try resumes its import or
refuses to upload again (docs/importing.rst, "No duplicate imports").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import Variable

from airflow_provider_mimecast.errors import MimecastError

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
        value = json.loads(text)
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
    """The Variable that remembers the upload one task instance made, so a retry can resume or refuse.

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
    def for_task(cls, context: Context, log: Any) -> RetryRecord:
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
                f"Mimecast upload by {dag_id}.{task_id}{mapped} in run {run_id}; a retry resumes its import "
                "(or refuses to upload again if its ID is missing). Deleted when the task succeeds."
            ),
            try_number=getattr(ti, "try_number", None) or 1,
            log=log,
        )

    def read(self) -> StartedImport | None:
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
            return StartedImport.from_json(text)
        except (ValueError, KeyError, TypeError) as error:
            self.log.warning(
                "Variable %s does not hold a started import (%s): ignoring it and uploading", self.key, error
            )
            return None

    def record_intent(self, wanted: StartedImport) -> None:
        """Record the upload about to be sent; raise, before anything is sent, if that fails."""
        if self.key is None:
            return
        try:
            Variable.set(self.key, json.dumps(asdict(wanted), sort_keys=True), description=self.description)
        except Exception as error:
            raise MimecastError(
                f"Could not record the upload in Variable {self.key} before sending it "
                f"({type(error).__name__}: {error}). Not uploading: without the record, a retry after an "
                "interrupted upload could start a duplicate import; nothing was sent, and a retry tries again"
            ) from error

    def write(self, started: StartedImport) -> None:
        """Add the import's ID to the record; the import goes on (and is returned) if that fails."""
        if self.key is None:
            return
        value = json.dumps(asdict(started), sort_keys=True)
        try:
            Variable.set(self.key, value, description=self.description)
        except Exception as error:
            # The import runs in Mimecast whatever happens here; the record still says an upload was in
            # flight, so a retry refuses to upload again rather than resume it.
            self.log.error(
                "MIMECAST IMPORT %s STARTED, but recording its ID in Variable %s failed (%s: %s). The task "
                "goes on with this import; if it is retried, it will refuse to upload again instead of "
                "resuming the import. To let a retry resume it, set Variable %s to the value %s",
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
                "the finished import (or refuse to upload) rather than upload again",
                self.key,
                type(error).__name__,
                error,
            )
