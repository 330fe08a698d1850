"""Daily directory sync: HR export -> Mimecast CSV -> import -> wait -> report.

The sample HR export ships beside this file; point ``HR_EXPORT`` at your own export (a local path or any
ObjectStoragePath such as ``s3://bucket/hr/export.csv``). Active employees become Mimecast users. One of
them has a malformed address: the import leaves that row out (``invalid_rows="drop"``) and the report says so.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import DAG, XComArg, task

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
        """Map active employees to Mimecast's import columns: exactly ``email`` and ``name``."""
        reader = csv.DictReader(io.StringIO(HR_EXPORT.read_text(encoding="utf-8")))
        return [
            {"email": row["work_email"], "name": f"{row['first_name']} {row['last_name']}"}
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
        # Rows whose address Mimecast would refuse are left out and listed in XCom "upload_rows";
        # the default, "fail", fails the task before uploading anything.
        invalid_rows="drop",
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

    def left_out(rows: dict[str, Any]) -> str:
        """What the import left out before upload, from the operator's ``upload_rows`` XCom."""
        if not rows["dropped"]:
            return ""
        shown = ", ".join(f"{row['email']!r} {row['problem']}" for row in rows["dropped_rows"])
        plural = "s" if rows["dropped"] != 1 else ""
        return f"; {rows['dropped']} HR row{plural} left out before upload ({shown})"

    @task
    def report_success(status: dict[str, Any], rows: dict[str, Any]) -> str:
        message = (
            f"Directory sync complete: {status['successfulImportedUsers']} users imported{left_out(rows)}"
        )
        print(message)
        return message

    @task
    def report_rejected_users(status: dict[str, Any], rows: dict[str, Any]) -> str:
        message = (
            f"Directory sync imported {status['successfulImportedUsers']} of {status['totalUsers']} users; "
            f"the rest were rejected (see the report of import {status['id']} in the Mimecast console)"
            f"{left_out(rows)}"
        )
        print(message)
        return message

    # Resolved at run time to the sensor's return value (the final status dict) and to what the import
    # sent and left out.
    final_status: Any = wait_for_import.output
    upload_rows: Any = XComArg(start_import, key="upload_rows")
    check_counts(final_status) >> [
        report_success(final_status, upload_rows),
        report_rejected_users(final_status, upload_rows),
    ]
