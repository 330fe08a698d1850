"""The asset event extra of a task's result (the DAG-level runs, read back from the database, are in
test_dags.py)."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import Asset, AssetAlias

from airflow_provider_mimecast.outlets import RESULT_ATTRIBUTE, import_result_extra, report_result

STATUS = {
    "id": "imp-1",
    "status": "completed",
    "totalUsers": 3,
    "successfulImportedUsers": 2,
    "notifyEmailAddress": "it@example.com",
    "importer": "svc",
}


def test_one_status_gives_its_result_fields_only():
    assert import_result_extra(STATUS) == {
        "id": "imp-1",
        "status": "completed",
        "totalUsers": 3,
        "successfulImportedUsers": 2,
    }


def test_several_statuses_are_listed_and_the_operator_adds_its_group():
    extra = import_result_extra([STATUS, {**STATUS, "id": "imp-2"}], group_id="g", with_group=True)
    assert [item["id"] for item in extra["imports"]] == ["imp-1", "imp-2"]
    assert (extra["groupId"], extra["groupName"]) == ("g", None)


class Event:
    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}


class Events:
    """Airflow's outlet event accessors, keyed as Airflow keys them: by URI, or an alias by name (3.0's
    Asset is not hashable; 2.11's Dataset has no name)."""

    def __init__(self) -> None:
        self.by_key: dict[str, Event] = {}

    @staticmethod
    def key(outlet: Any) -> str:
        return getattr(outlet, "uri", None) or outlet.name

    def __getitem__(self, outlet: Any) -> Event:
        return self.by_key.setdefault(self.key(outlet), Event())

    def __contains__(self, outlet: Any) -> bool:
        return self.key(outlet) in self.by_key


class Task:
    group_name = "EMEA/Sales"

    def __init__(self, *outlets: Any) -> None:
        self.outlets = list(outlets)


def test_each_asset_gets_the_result_keeping_keys_the_dag_set_and_aliases_are_left_alone():
    mine, other, alias = Asset("mine"), Asset("other"), AssetAlias("alias")
    events = Events()
    events[other].extra = {"status": "the DAG's own", "note": "kept"}
    task = Task(mine, other, alias)
    report_result(task, {"outlet_events": events}, "imp-9", group_id="g", with_group=True)
    assert events[mine].extra == {
        "id": "imp-9",
        "status": None,
        "totalUsers": None,
        "successfulImportedUsers": None,
        "groupId": "g",
        "groupName": "EMEA/Sales",
    }
    assert events[other].extra["status"] == "the DAG's own" and events[other].extra["id"] == "imp-9"
    assert alias not in events
    assert getattr(task, RESULT_ATTRIBUTE)["id"] == "imp-9"  # kept for OpenLineage


def test_a_task_without_outlets_or_a_context_without_events_only_keeps_the_result():
    task = Task()
    report_result(task, {}, STATUS)
    assert getattr(task, RESULT_ATTRIBUTE)["status"] == "completed"
