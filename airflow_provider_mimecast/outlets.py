"""The import result on the asset events of a task's ``outlets`` (datasets on Airflow 2.11), so that a DAG
scheduled on the asset reads what happened without XCom (docs/importing.rst, "Asset events").

Shared by :class:`~airflow_provider_mimecast.operators.import_users.MimecastImportUsersOperator` and
:class:`~airflow_provider_mimecast.sensors.import_status.MimecastImportStatusSensor`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import Asset

__all__ = [
    "RESULT_ATTRIBUTE",
    "RESULT_FIELDS",
    "import_result_extra",
    "note_started",
    "report_result",
    "report_to_outlets",
]

#: The fields of a final status that an asset event carries, under Mimecast's names (as in the XCom).
RESULT_FIELDS = ("id", "status", "totalUsers", "successfulImportedUsers")
#: The task attribute that keeps the result for OpenLineage (read after the task ends, in the same process).
RESULT_ATTRIBUTE = "mimecast_import_result"


def _result(status: Mapping[str, Any]) -> dict[str, Any]:
    return {name: status.get(name) for name in RESULT_FIELDS}


def import_result_extra(
    result: str | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    group_id: str | None = None,
    group_name: str | None = None,
    with_group: bool = False,
) -> dict[str, Any]:
    """The asset event ``extra`` for a task's return value.

    :param result: an import ID (an import started without waiting: its status and counts are None), one
        final status dict, or a list of them (a sensor given several IDs: ``{"imports": [...]}``).
    :param group_id: the destination group's secure ID (the import operator).
    :param group_name: the name or folder path the task was given instead, if any.
    :param with_group: add ``groupId`` and ``groupName`` (the import operator, which knows the group).
    """
    group = {"groupId": group_id, "groupName": group_name} if with_group else {}
    if isinstance(result, str):
        return {**dict.fromkeys(RESULT_FIELDS), "id": result, **group}
    if isinstance(result, Mapping):
        return {**_result(result), **group}
    return {"imports": [_result(status) for status in result], **group}


def report_to_outlets(task: Any, context: Any, extra: dict[str, Any]) -> None:
    """Add ``extra`` to the event of each asset (dataset) in ``task.outlets``, keeping keys the DAG's own
    code set; aliases and other lineage objects are left alone.
    """
    outlets = [outlet for outlet in getattr(task, "outlets", None) or () if isinstance(outlet, Asset)]
    if not outlets or "outlet_events" not in context:
        return
    events = context["outlet_events"]
    for outlet in outlets:
        event = events[outlet]
        event.extra = {**extra, **(event.extra or {})}


def note_started(task: Any, import_id: str, *, group_id: str) -> None:
    """Keep the import the import operator started (or resumed) on the task, for OpenLineage to report
    should the task fail later in the same process (its wait), without asking anything of Airflow then."""
    extra = import_result_extra(
        import_id, group_id=group_id, group_name=getattr(task, "group_name", None), with_group=True
    )
    setattr(task, RESULT_ATTRIBUTE, extra)


def report_result(
    task: Any,
    context: Any,
    result: str | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    group_id: str | None = None,
    with_group: bool = False,
) -> None:
    """Put the result on the task's outlet events and keep it on the task for OpenLineage
    (:mod:`~airflow_provider_mimecast.operators.lineage`).
    """
    extra = import_result_extra(
        result, group_id=group_id, group_name=getattr(task, "group_name", None), with_group=with_group
    )
    setattr(task, RESULT_ATTRIBUTE, extra)
    report_to_outlets(task, context, extra)
