"""The main job, end to end without a Mimecast tenant.

Starts the local Mimecast simulator, runs the ``example_mimecast_directory_sync`` DAG against it with an
API 2.0 (OAuth) connection -- build the rows, plan what the import changes in its group, leave out the
malformed address, import, wait in deferrable mode, check who is in the group, report -- then runs it again
with a truncated export, which the deletion guard refuses before anything is sent, then checks the same import with ``example_mimecast_wait_for_import`` over an API 1.0 (HMAC) connection,
and prints the import result that reached XCom.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its configuration on import: set it up first, in a throwaway home.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="mimecast-demo-airflow-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = os.environ.get("DEMO_LOG_LEVEL", "WARNING")
os.environ.setdefault("MIMECAST_EXAMPLE_POLL_SECONDS", "1")
if version("apache-airflow").startswith("2."):
    # Airflow 2 refuses SQLite with its default LocalExecutor; Airflow 3 has no SequentialExecutor.
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"

from airflow_provider_mimecast.testing.simulator import MimecastSimulator  # noqa: E402


def run_dag(dag_id: str, expect: str = "success", **run_conf: Any) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"example DAGs failed to import: {bag.import_errors}")
    dag_run = bag.get_dag(dag_id).test(run_conf=run_conf or None)
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    print(f"\n== {dag_id}: {dag_run.state} ({', '.join(f'{k}={v}' for k, v in sorted(states.items()))})")
    if str(dag_run.state) != expect:
        raise SystemExit(f"{dag_id} ended {dag_run.state}, not {expect}")
    return dag_run


def main() -> int:
    print("Preparing a throwaway Airflow home ...", flush=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    with MimecastSimulator(pending_seconds=1.0, processing_seconds=2.0) as simulator:
        print(f"Mimecast simulator listening on {simulator.url}", flush=True)
        os.environ["AIRFLOW_CONN_MIMECAST_DEFAULT"] = simulator.airflow_connection("oauth2")
        os.environ["AIRFLOW_CONN_MIMECAST_HMAC"] = simulator.airflow_connection("hmac")

        sync_run = run_dag("example_mimecast_directory_sync")
        tis = {ti.task_id: ti for ti in sync_run.get_task_instances()}
        import_id = tis["start_import"].xcom_pull(task_ids="start_import", key="import_id")
        rows = tis["start_import"].xcom_pull(task_ids="start_import", key="upload_rows")
        print(f"   API 2.0 (OAuth): started import {import_id} and waited for it")
        for row in rows["dropped_rows"]:
            print(f"   Left out before upload: row {row['row']}, {row['email']!r} {row['problem']}")
        plan = tis["plan_sync"].xcom_pull(task_ids="plan_sync", key="import_plan")
        print(
            f"   Plan for group {plan['group_id']} ({plan['group_members']} members): add {plan['add']}, "
            f"rename {plan['rename']}, remove {plan['remove']}, unchanged {plan['unchanged']}"
        )
        missing = tis["start_import"].xcom_pull(task_ids="start_import", key="not_in_group")
        print(f"   After the import, users of the file not in the group: {missing['count']}")

        # The next night's export is cut off after two employees: the guard refuses it, nothing is sent.
        with tempfile.TemporaryDirectory() as folder:
            export = Path(folder) / "hr_export_truncated.csv"
            lines = (ROOT / "example_dags" / "data" / "hr_export.csv").read_text().splitlines()
            export.write_text("\n".join(lines[:3]) + "\n")
            refused_run = run_dag("example_mimecast_directory_sync", expect="failed", hr_export=str(export))
        tis = {ti.task_id: ti for ti in refused_run.get_task_instances()}
        verdict = tis["plan_sync"].xcom_pull(task_ids="plan_sync")["refused"]
        print(f"   Truncated export, refused by the deletion guard: {verdict.split('. Nothing')[0]}")
        print(
            f"   start_import: {tis['start_import'].state}; uploads in all: {len(simulator.requests_to('/api/user/import-users'))}"
        )

        wait_run = run_dag(
            "example_mimecast_wait_for_import", import_id=import_id, mimecast_conn_id="mimecast_hmac"
        )
        tis = {ti.task_id: ti for ti in wait_run.get_task_instances()}
        result = tis["get_import_status"].xcom_pull(task_ids="get_import_status")
        print("   API 1.0 (HMAC): read the same import's status\n")

    print("Import result (XCom return value of get_import_status):")
    print(json.dumps(result, indent=2, sort_keys=True))
    rejected = result["totalUsers"] - result["successfulImportedUsers"]
    print(
        f"\nImport {result['id']} is {result['status']}: {result['successfulImportedUsers']} of "
        f"{result['totalUsers']} users imported, {rejected} rejected by Mimecast, and "
        f"{rows['dropped']} HR row left out before upload (the sample export's one malformed address)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
