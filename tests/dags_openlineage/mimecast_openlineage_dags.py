"""DAGs of the OpenLineage lane's tests (tests/operators/test_openlineage.py), in a bundle of their own:
with the OpenLineage listener registered, the end_from_trigger DAGs of tests/dags refuse to parse."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator

with DAG(
    dag_id="mimecast_openlineage_import",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"path": ""},
):
    MimecastImportUsersOperator(
        task_id="import_users",
        source="{{ params.path }}",
        group_name="Directory Sync",
        wait_for_completion=True,
        poll_interval=0.2,
        timeout=60,
        hook_params={"retry_delay": 0.01, "max_retries": 0},
    )
