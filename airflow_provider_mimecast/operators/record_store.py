"""Where the import operator's retry record lives: one interface, two stores, chosen by what the running
Airflow offers (docs/importing.rst, "No duplicate imports").

- **Airflow 3.3 and later**: the task instance's own task state (AIP-103, ``context["task_state_store"]``),
  scoped to the DAG run, task and map index and the same across tries, kept out of users' Variables.
- **Airflow 2.11 to 3.2**: an Airflow Variable keyed by a hash of the same identity.

Only the task reads and deletes its record, on a worker: the operator never ends in the triggerer.

A store speaks JSON objects; every error it meets is left to :class:`~.retry_record.RetryRecord`, which
turns it into a :class:`~airflow_provider_mimecast.errors.MimecastError` or a warning.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Protocol

from airflow.providers.common.compat.sdk import Variable

__all__ = ["TASK_STATE_KEY", "NotARecord", "RecordStore", "TaskStateRecordStore", "VariableRecordStore"]

#: The task state key of the record (one per task instance: the scope is Airflow's).
TASK_STATE_KEY = "mimecast_started_import"
#: Airflow 3.3's ``NEVER_EXPIRE`` (``timedelta.max``): a record outlives ``[state_store]
#: default_retention_days``, so that clearing a task that failed long ago still resumes or refuses.
NEVER_EXPIRE = timedelta.max


class NotARecord(ValueError):
    """The store holds something under the record's name that is not a JSON object."""


def _checked(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise NotARecord(f"it holds {type(value).__name__}, not a JSON object")
    return value


class RecordStore(Protocol):
    """One task instance's record: read, written and deleted whole."""

    #: Where the record is, for log lines and for the error that tells a user how to remove it.
    where: str
    #: How to remove it by hand (to force a fresh upload).
    how_to_delete: str

    def get(self) -> dict[str, Any] | None: ...

    def set(self, value: dict[str, Any]) -> None: ...

    def delete(self) -> None: ...


class VariableRecordStore:
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


class TaskStateRecordStore:
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
