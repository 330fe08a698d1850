"""OpenLineage from the import operator, for real: the openlineage provider's listener and its file
transport, with the events read back. Runs in the lane that installs apache-airflow-providers-openlineage
(``pytest -m openlineage``); skipped elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("airflow.providers.openlineage")

from airflow_provider_mimecast.testing.simulator import GET_IMPORT_STATUS_PATH, Fault
from tests.conftest import OPENLINEAGE_EVENTS

pytestmark = [pytest.mark.openlineage, pytest.mark.usefixtures("airflow_db")]

DAGS = Path(__file__).parents[1] / "dags_openlineage"


def run(dag_id: str, **run_conf: Any) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id).test(run_conf=run_conf)


@pytest.fixture(autouse=True)
def no_earlier_events() -> None:
    OPENLINEAGE_EVENTS.unlink(missing_ok=True)


def task_events(dag_run: Any, task_id: str = "import_users") -> list[dict[str, Any]]:
    """The OpenLineage events the listener emitted for the task, in order."""
    events = [json.loads(line) for line in OPENLINEAGE_EVENTS.read_text().splitlines() if line.strip()]
    return [e for e in events if e["job"]["name"] == f"{dag_run.dag_id}.{task_id}"]


def test_a_successful_import_reports_the_file_the_group_and_the_import(connections, tmp_path):
    source = tmp_path / "users.csv"
    source.write_text("email,name\nada@example.com,Ada\ngrace@example.com,Grace\n")
    dag_run = run("mimecast_openlineage_import", path=str(source))
    [ti] = dag_run.get_task_instances()
    assert str(getattr(ti.state, "value", ti.state)) == "success"
    [import_id] = connections.import_ids()
    [group] = [g.id for g in connections.groups() if g.name == "Directory Sync"]
    events = task_events(dag_run)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    complete = events[-1]
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [("file", str(source))]
    namespace = "mimecast://" + connections.url.split("://", 1)[1].rstrip("/")
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == (namespace, group)
    assert output["facets"]["mimecastGroup"]["name"] == "Directory Sync"
    facets = complete["run"]["facets"]
    assert facets["externalQuery"]["externalQueryId"] == import_id
    assert facets["externalQuery"]["source"] == namespace
    assert {k: facets["mimecastImport"][k] for k in ("importId", "status", "totalUsers")} == {
        "importId": import_id,
        "status": "completed",
        "totalUsers": 2,
    }
    assert facets["mimecastImport"]["successfulImportedUsers"] == 2


def test_a_failed_wait_reports_the_import_it_started_and_the_error(connections, tmp_path):
    source = tmp_path / "users.csv"
    source.write_text("email,name\nada@example.com,Ada\n")
    connections.inject(Fault("binding_expired", path=GET_IMPORT_STATUS_PATH, times=100))
    dag_run = run("mimecast_openlineage_import", path=str(source))
    [import_id] = connections.import_ids()
    events = task_events(dag_run)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    failed = events[-1]
    assert [(d["namespace"], d["name"]) for d in failed["inputs"]] == [("file", str(source))]
    facets = failed["run"]["facets"]
    assert facets["externalQuery"]["externalQueryId"] == import_id
    assert facets["mimecastImport"]["importId"] == import_id
    assert "status" not in facets["mimecastImport"]  # never seen: the wait failed (None is left out)
    [group] = [g.id for g in connections.groups() if g.name == "Directory Sync"]
    assert [d["name"] for d in failed["outputs"]] == [group]
    assert "errorMessage" in facets  # the listener's own, from the exception


def test_end_from_trigger_is_refused_naming_the_openlineage_listener_and_its_switch(tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    from tests.test_dags import END_FROM_TRIGGER_DAG

    (tmp_path / "dag_ending_in_the_triggerer.py").write_text(END_FROM_TRIGGER_DAG)
    [error] = DagBag(dag_folder=str(tmp_path)).import_errors.values()
    assert (
        "'wait' has end_from_trigger=True, but Airflow listeners are registered (the OpenLineage provider's "
        "listener (airflow.providers.openlineage.plugins.listener.OpenLineageListener))"
    ) in error
    assert "Set end_from_trigger=False on this task" in error
    assert "[openlineage] disabled = True" in error
