"""The retry record of :class:`~airflow_provider_mimecast.operators.import_users.MimecastImportUsersOperator`:
the upload one task instance made, kept across tries so that a later try resumes its import or refuses to
upload again (docs/importing.rst, "No duplicate imports").

This module holds the record (:class:`RetryRecord`) and the decisions taken from it, with their messages:
resume, refuse or upload (:func:`resumed_import`), and after a deferred wait whether the file is still the
one imported (:func:`after_resumed_import`). :mod:`~airflow_provider_mimecast.operators.record_store` reads
and writes it (in the task instance's task state on Airflow 3.3+, in an Airflow Variable before).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_mimecast.errors import (
    MimecastError,
    MimecastSyncGuardError,
    MimecastUploadNotRetriedError,
)
from airflow_provider_mimecast.operators.group_sync import Outcome
from airflow_provider_mimecast.uploads import Upload, load_upload

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_mimecast.operators.group_sync import GroupSync
    from airflow_provider_mimecast.operators.record_store import RetryRecordStore

__all__ = [
    "VARIABLE_PREFIX",
    "RetryRecord",
    "after_resumed_import",
    "file_changed_since",
    "resumed_import",
    "retry_record_key",
    "upload_digest",
]


T = TypeVar("T")

#: Prefix of the Variables that hold retry records. No "/": Airflow 3.0's Execution API answers 404 for a
#: Variable key holding one (its routes take the key as one path segment).
VARIABLE_PREFIX = "mimecast_import_users."


def retry_record_key(dag_id: str, task_id: str, run_id: str, map_index: int | None) -> str:
    """The Variable key under which a task instance keeps its retry record, until it succeeds.

    A hash of the exact identity: it cannot collide across DAGs, tasks, runs or map indexes, whatever
    characters they hold, and stays within Variable's 250-character key limit.

    :param dag_id: the DAG's ID.
    :param task_id: the task's ID.
    :param run_id: the DAG run's ID.
    :param map_index: the mapped task's index (-1 or None when not mapped).
    """
    identity = [dag_id, task_id, run_id, -1 if map_index is None else map_index]
    return VARIABLE_PREFIX + hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]


def upload_digest(upload: Upload) -> str:
    """The SHA-256 of the bytes sent, by which a later try knows the same upload."""
    return hashlib.sha256(upload.content).hexdigest()


@dataclass(frozen=True)
class RetryRecord:
    """The upload a try of the task made, as stored (a JSON object): recorded before it is sent, with
    ``import_id`` empty until Mimecast's answer gives it.
    """

    import_id: str
    sha256: str
    size: int
    arguments: dict[str, Any]
    #: When the upload was about to be sent (ISO 8601, UTC), and by which try; absent from older records.
    started_at: str = ""
    try_number: int = 0

    @classmethod
    def before_upload(cls, upload: Upload, arguments: dict[str, Any], try_number: int) -> RetryRecord:
        """The record of ``upload``, about to be sent now by try ``try_number``.

        :param upload: the checked file.
        :param arguments: what besides the bytes makes two uploads the same import.
        :param try_number: the running try.
        """
        return cls(
            import_id="",
            sha256=upload_digest(upload),
            size=len(upload.content),
            arguments=arguments,
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            try_number=try_number,
        )

    @property
    def group_id(self) -> str | None:
        """The destination group of the recorded upload."""
        group_id = self.arguments.get("group_id")
        return group_id if isinstance(group_id, str) else None

    def same_upload(self, other: RetryRecord) -> bool:
        return self.sha256 == other.sha256 and self.arguments == other.arguments

    def difference(self, now: RetryRecord) -> str:
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
    def from_value(cls, value: dict[str, Any]) -> RetryRecord:
        record = cls(
            import_id=value["import_id"],
            sha256=value["sha256"],
            size=value["size"],
            arguments=value["arguments"],
            started_at=value.get("started_at", ""),
            try_number=value.get("try_number", 0),
        )
        if not (
            isinstance(record.import_id, str)
            and isinstance(record.sha256, str)
            and record.sha256
            and isinstance(record.arguments, dict)
            and isinstance(record.started_at, str)
            and isinstance(record.try_number, int)
        ):
            raise ValueError("import_id must be a string, sha256 a non-empty one, and arguments an object")
        return record


def resumed_import(
    store: RetryRecordStore, wanted: RetryRecord, *, retry_ambiguous_failures: bool, log: Any
) -> str | None:
    """The import an earlier try of this task instance started with the same upload, or None to upload.

    Raises when an earlier try may have reached Mimecast with the same upload but never learned the
    import's ID, unless ``retry_ambiguous_failures`` accepts the risk of a duplicate.

    :param store: the task instance's retry record.
    :param wanted: the record of the upload this try would make.
    :param retry_ambiguous_failures: the operator's argument: upload again after an interrupted upload.
    :param log: the task's logger.
    """
    earlier = store.read()
    if earlier is None:
        return None
    if not earlier.same_upload(wanted):
        log.warning(
            "An earlier try of this task %s, but %s: uploading anew as a new import (%s)",
            f"started Mimecast import {earlier.import_id}" if earlier.import_id else "began an upload",
            earlier.difference(wanted),
            "which goes on in Mimecast" if earlier.import_id else "the earlier one may exist in Mimecast",
        )
        return None
    if earlier.import_id:
        log.info(
            "Mimecast import %s was started by an earlier try of this task with the same content "
            "(sha256 %s): resuming it instead of uploading again (%s)",
            earlier.import_id,
            earlier.sha256,
            store.where,
        )
        return earlier.import_id
    interrupted = (
        f"Try {earlier.try_number or '?'} of this task began uploading the same file "
        f"(sha256 {earlier.sha256}) at {earlier.started_at or 'an unknown time'} and never learned "
        "whether Mimecast accepted it (the try was interrupted, e.g. by execution_timeout or a lost "
        "worker, or the answer did not say)"
    )
    if retry_ambiguous_failures:
        log.warning(
            "%s. Uploading it again on purpose (retry_ambiguous_failures=True): if the earlier upload "
            "reached Mimecast, this starts a DUPLICATE import",
            interrupted,
        )
        return None
    raise MimecastUploadNotRetriedError(
        f"{interrupted}. Not uploading again, to avoid a duplicate import: check the Mimecast console's "
        f"directory import list for an import started then. If there is none, {store.how_to_delete} "
        "and clear the task to upload again; if there is one, wait for it with "
        "MimecastImportStatusSensor. Or pass retry_ambiguous_failures=True to upload again regardless"
    )


def file_changed_since(record: RetryRecord | None, upload: Upload) -> str | None:
    """Why ``upload`` (the file read again after a deferred wait) is not the one ``record`` says was
    imported, or None when it is.

    :param record: the task instance's retry record, None when it is gone.
    :param upload: the file as it reads now.
    """
    if record is None or not record.import_id:
        return "this task's record of its upload is gone"
    if record.sha256 != upload_digest(upload):
        return f"it changed since the upload (then sha256 {record.sha256}, now {upload_digest(upload)})"
    return None


def after_resumed_import(
    operator: Any, context: Context, record_store: RetryRecordStore, finish: Callable[[], T]
) -> T:
    """:meth:`~.group_sync.GroupSync.after_import` for a task resumed after its deferred wait. The file is
    read again and must be the one uploaded (its digest in the retry record), else ``not_in_group`` is not
    reported and ``remove_missing`` refuses to remove anyone. An error or a timeout of the wait raises first.

    :param operator: the import operator (its ``source``, ``remove_missing``, ``_sync``).
    :param record_store: the task's retry record, which holds the upload's digest and group.
    :param finish: turns the wait's event into the task's result.
    """
    outcome = Outcome(finish)
    why: str | None
    try:
        record = record_store.read()
        upload = load_upload(
            operator.source, file_type=operator.file_type, invalid_rows=operator.invalid_rows
        )
    except MimecastError as error:
        why = f"it cannot be read again ({error})"
    else:
        why = file_changed_since(record, upload)
        if why is None and record is not None:
            sync: GroupSync = operator._sync(upload, str(record.arguments.get("group_id", "")))
            return sync.after_import(context, outcome.replay)
    if operator.remove_missing:
        raise MimecastSyncGuardError(
            "The import completed, but remove_missing removed no one: the file is no longer the one uploaded, "
            f"as {why}. Run the task again with the file as it was, or remove the leavers yourself"
        )
    operator.log.warning(
        "The group is not read after the import (no not_in_group): the import's file %s", why
    )
    return outcome.replay()
