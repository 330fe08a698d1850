"""The main job, end to end without a Mimecast tenant.

Starts the local Mimecast simulator, runs the ``example_mimecast_directory_sync`` DAG against it with an
API 2.0 (OAuth) connection -- build the CSV, check every row and leave out the malformed address, start
the import, wait for it in deferrable mode, report --
then checks the same import with ``example_mimecast_wait_for_import`` over an API 1.0 (HMAC) connection,
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


def run_dag(dag_id: str, **run_conf: Any) -> Any:
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
    if str(dag_run.state) != "success":
        raise SystemExit(f"{dag_id} did not succeed")
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
