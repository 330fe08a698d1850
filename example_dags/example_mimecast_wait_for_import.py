"""Wait for a Mimecast user import that something else started, then act on its counts.

Trigger it with ``{"import_id": "<id from import-users>"}``; ``mimecast_conn_id`` picks the connection.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_mimecast.operators.import_status import MimecastGetImportStatusOperator
from airflow_provider_mimecast.sensors.import_status import MimecastImportStatusSensor

# Seconds between status checks; the local simulator finishes imports in seconds, Mimecast in minutes.
POLL_SECONDS = float(os.environ.get("MIMECAST_EXAMPLE_POLL_SECONDS", "60"))

with DAG(
    dag_id="example_mimecast_wait_for_import",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        "import_id": Param("", type="string", minLength=1, description="ID returned by import-users"),
        "mimecast_conn_id": Param("mimecast_default", type="string"),
    },
    tags=["mimecast", "example"],
) as dag:
    # [START howto_sensor_mimecast_import_status]
    wait_for_import = MimecastImportStatusSensor(
        task_id="wait_for_import",
        import_id="{{ params.import_id }}",
        mimecast_conn_id="{{ params.mimecast_conn_id }}",
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=2 * 60 * 60,
    )
    # [END howto_sensor_mimecast_import_status]
    # [START howto_operator_mimecast_get_import_status]
    get_import_status = MimecastGetImportStatusOperator(
        task_id="get_import_status",
        import_id="{{ params.import_id }}",
        mimecast_conn_id="{{ params.mimecast_conn_id }}",
    )
    # [END howto_operator_mimecast_get_import_status]

    # [START howto_xcom_mimecast_import_status]
    @task.branch
    def check_counts(ti: Any = None) -> str:
        total = ti.xcom_pull(task_ids="get_import_status", key="totalUsers")
        imported = ti.xcom_pull(task_ids="get_import_status", key="successfulImportedUsers")
        return "all_users_imported" if imported == total else "report_rejected_users"

    # [END howto_xcom_mimecast_import_status]

    @task
    def all_users_imported(ti: Any = None) -> str:
        total = ti.xcom_pull(task_ids="get_import_status", key="totalUsers")
        message = f"All {total} users imported"
        print(message)
        return message

    @task
    def report_rejected_users(ti: Any = None) -> str:
        status = ti.xcom_pull(task_ids="get_import_status")
        rejected = status["totalUsers"] - status["successfulImportedUsers"]
        message = (
            f"{rejected} of {status['totalUsers']} users were rejected by import {status['id']}; "
            "its report in the Mimecast console lists them"
        )
        print(message)
        return message

    wait_for_import >> get_import_status >> check_counts() >> [all_users_imported(), report_rejected_users()]
