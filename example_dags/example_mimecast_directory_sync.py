"""Daily directory sync: HR export -> Mimecast rows -> plan -> import (guarded) -> wait -> report.

The sample HR export ships beside this file; point ``HR_EXPORT`` at your own export, or trigger a run with
``{"hr_export": "/path/to/export.csv"}``. Active employees become the members of the Mimecast group: the
import adds and renames them, then removes the members the export no longer lists (``remove_missing``),
without emptying the group first. A deletion guard refuses a run that would remove more than 20% of the group
(a truncated export, an empty query): approve one run with ``{"max_removals": <count>}``. One employee has a
malformed address: the import leaves that row out (``invalid_rows="drop"``) and the report says so, along
with any user Mimecast did not put in the group (``not_in_group``).
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
    # A run's conf overrides these: another export, or a one-off approval of more removals.
    params={"hr_export": str(HR_EXPORT), "max_removals": "0.2"},
    tags=["mimecast", "example"],
) as dag:
    # [START howto_mimecast_rows_source]
    @task
    def build_user_rows(**context: Any) -> list[dict[str, str]]:
        """Map active employees to Mimecast's import columns: exactly ``email`` and ``name``."""
        export = Path(context["params"]["hr_export"])
        reader = csv.DictReader(io.StringIO(export.read_text(encoding="utf-8")))
        return [
            {"email": row["work_email"], "name": f"{row['first_name']} {row['last_name']}"}
            for row in reader
            if row["employment_status"] == "active"
        ]

    # [END howto_mimecast_rows_source]
    rows = build_user_rows()

    # [START howto_operator_mimecast_plan_sync]
    plan_sync = MimecastImportUsersOperator(
        task_id="plan_sync",
        source=rows,
        group_name=GROUP_NAME,
        invalid_rows="drop",
        remove_missing=True,
        max_removals="{{ params.max_removals }}",
        # Upload nothing: push what the import would add, remove and rename to XCom "import_plan".
        dry_run=True,
    )
    # [END howto_operator_mimecast_plan_sync]

    # [START howto_operator_mimecast_import_users]
    start_import = MimecastImportUsersOperator(
        task_id="start_import",
        source=rows,
        group_name=GROUP_NAME,
        notify_email_address="directory-admins@example.com",
        # Rows whose address Mimecast would refuse are left out and listed in XCom "upload_rows";
        # the default, "fail", fails the task before uploading anything.
        invalid_rows="drop",
        # Members the export no longer lists are removed once the import completed (no empty group while it
        # processes, as clear_group=True would leave), unless more than max_removals: then nothing is sent.
        remove_missing=True,
        max_removals="{{ params.max_removals }}",
        # Wait in the triggerer; the task resumes on a worker to read the group (XCom "not_in_group").
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_SECONDS,
        timeout=2 * 60 * 60,
    )
    # [END howto_operator_mimecast_import_users]
    plan_sync >> start_import

    @task.branch
    def check_counts(not_in_group: dict[str, Any]) -> str:
        return "report_success" if not not_in_group["count"] else "report_rejected_users"

    def left_out(rows: dict[str, Any]) -> str:
        """What the import left out before upload, from the operator's ``upload_rows`` XCom."""
        if not rows["dropped"]:
            return ""
        shown = ", ".join(f"{row['email']!r} {row['problem']}" for row in rows["dropped_rows"])
        plural = "s" if rows["dropped"] != 1 else ""
        return f"; {rows['dropped']} HR row{plural} left out before upload ({shown})"

    def changes(plan: dict[str, Any]) -> str:
        return f"{plan['add']} added, {plan['rename']} renamed, {plan['remove']} removed"

    @task
    def report_success(status: dict[str, Any], rows: dict[str, Any], plan: dict[str, Any]) -> str:
        message = (
            f"Directory sync complete: {status['successfulImportedUsers']} users imported "
            f"({changes(plan)}){left_out(rows)}"
        )
        print(message)
        return message

    @task
    def report_rejected_users(
        status: dict[str, Any], rows: dict[str, Any], plan: dict[str, Any], not_in_group: dict[str, Any]
    ) -> str:
        message = (
            f"Directory sync imported {status['successfulImportedUsers']} of {status['totalUsers']} users; "
            f"{not_in_group['count']} are not in the group: {', '.join(not_in_group['addresses'][:20])} "
            f"(see the report of import {status['id']} in the Mimecast console){left_out(rows)}"
        )
        print(message)
        return message

    # Resolved at run time: the import's final status dict, what it sent and left out, its plan, and the
    # file's users the group lacks once it completed.
    final_status: Any = start_import.output
    upload_rows: Any = XComArg(start_import, key="upload_rows")
    import_plan: Any = XComArg(start_import, key="import_plan")
    not_in_group: Any = XComArg(start_import, key="not_in_group")
    check_counts(not_in_group) >> [
        report_success(final_status, upload_rows, import_plan),
        report_rejected_users(final_status, upload_rows, import_plan, not_in_group),
    ]
