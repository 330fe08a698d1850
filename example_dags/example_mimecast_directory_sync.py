"""Daily directory sync: HR export -> Mimecast CSV -> import -> wait -> report.

The sample HR export ships beside this file; point ``HR_EXPORT`` at your own export (a local path or any
ObjectStoragePath such as ``s3://bucket/hr/export.csv``). Active employees become Mimecast users.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator
from airflow_provider_mimecast.sensors.import_status import MimecastImportStatusSensor

HR_EXPORT = Path(__file__).parent / "data" / "hr_export.csv"
# The Mimecast profile group the users go into, by name or folder path (e.g. "EMEA/Sales"); the simulator's
# directory holds a "Directory Sync" group. group_id="<secure ID>" names it without a lookup.
GROUP_NAME = os.environ.get("MIMECAST_EXAMPLE_GROUP", "Directory Sync")
POLL_SECONDS = float(os.environ.get("MIMECAST_EXAMPLE_POLL_SECONDS", "60"))

with DAG(
    dag_id="example_mimecast_directory_sync",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mimecast", "example"],
) as dag:
    # [START howto_mimecast_rows_source]
    @task
    def build_user_rows() -> list[dict[str, str]]:
        """Map active employees to Mimecast's import columns."""
        reader = csv.DictReader(io.StringIO(HR_EXPORT.read_text(encoding="utf-8")))
        return [
            {"emailAddress": row["work_email"], "name": f"{row['first_name']} {row['last_name']}"}
            for row in reader
            if row["employment_status"] == "active"
        ]

    # [END howto_mimecast_rows_source]

    # [START howto_operator_mimecast_import_users]
    start_import = MimecastImportUsersOperator(
        task_id="start_import",
        source=build_user_rows(),
        group_name=GROUP_NAME,
        notify_email_address="directory-admins@example.com",
    )
    # [END howto_operator_mimecast_import_users]
    # [START howto_sensor_mimecast_deferrable]
    wait_for_import = MimecastImportStatusSensor(
        task_id="wait_for_import",
        import_id=start_import.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=2 * 60 * 60,
    )
    # [END howto_sensor_mimecast_deferrable]

    @task.branch
    def check_counts(status: dict[str, Any]) -> str:
        complete = status["successfulImportedUsers"] == status["totalUsers"]
        return "report_success" if complete else "report_rejected_users"

    @task
    def report_success(status: dict[str, Any]) -> str:
        message = f"Directory sync complete: {status['successfulImportedUsers']} users imported"
        print(message)
        return message

    @task
    def report_rejected_users(status: dict[str, Any]) -> str:
        message = (
            f"Directory sync imported {status['successfulImportedUsers']} of {status['totalUsers']} users; "
            f"the rest were rejected (see the report of import {status['id']} in the Mimecast console)"
        )
        print(message)
        return message

    # Resolved at run time to the sensor's return value: the final status dict.
    final_status: Any = wait_for_import.output
    check_counts(final_status) >> [report_success(final_status), report_rejected_users(final_status)]
