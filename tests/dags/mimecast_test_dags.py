"""DAGs for the end-to-end tests; Airflow 3's dag.test() runs only DAGs that live in a bundle."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_mimecast.operators.import_status import MimecastGetImportStatusOperator
from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator
from airflow_provider_mimecast.sensors.import_status import MimecastImportStatusSensor

FAST = {"retry_delay": 0.01}
ROWS = [{"email": "ada@example.com", "name": "Ada"}, {"email": "grace@example.com", "name": "Grace"}]


def test_dag(dag_id: str) -> DAG:
    return DAG(
        dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, params={"import_id": ""}
    )


for mode in ("poke", "reschedule", "deferrable"):
    with test_dag(f"mimecast_test_sensor_{mode}"):
        # Started in the run itself, so the import's timeline begins right before the sensor.
        start = MimecastImportUsersOperator(task_id="start", source=ROWS, group_id="grp-1", hook_params=FAST)
        start >> MimecastImportStatusSensor(
            task_id="wait",
            import_id=start.output,
            mode="reschedule" if mode == "reschedule" else "poke",
            deferrable=mode == "deferrable",
            poke_interval=0.2,
            timeout=60,
            hook_params=FAST,
        )

for mode in ("poke", "deferrable"):
    # A 1 s timeout that soft_fail turns into a skip; a 600 s one that an unknown ID must beat.
    for name, timeout in (("soft_fail", 1), ("fail_fast", 600)):
        with test_dag(f"mimecast_test_{name}_{mode}"):
            MimecastImportStatusSensor(
                task_id="wait",
                import_id="{{ params.import_id }}",
                deferrable=mode == "deferrable",
                poke_interval=0.2,
                timeout=timeout,
                soft_fail=True,
                hook_params=FAST,
            )
    with test_dag(f"mimecast_test_import_and_wait_{mode}"):
        MimecastImportUsersOperator(
            task_id="import_users",
            source=ROWS,
            group_id="grp-1",
            wait_for_completion=True,
            deferrable=mode == "deferrable",
            poll_interval=0.2,
            timeout=60,
            hook_params=FAST,
        )

with DAG(
    dag_id="mimecast_test_import_templated_path",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"path": "", "group_id": "grp-1"},
):
    MimecastImportUsersOperator(
        task_id="import_users", source="{{ params.path }}", group_id="{{ params.group_id }}", hook_params=FAST
    )

# One retry, at once. The tests make the first try time out while it waits, after the upload: the task's
# execution_timeout (AirflowTaskTimeout), or the HTTP read timeout of a status check (a MimecastError).
for timeout_kind, limits in (
    ("execution_timeout", {"execution_timeout": timedelta(seconds=1)}),
    ("read_timeout", {"hook_params": {**FAST, "timeout": 0.3, "max_retries": 0}}),
):
    with DAG(
        dag_id=f"mimecast_test_import_retry_{timeout_kind}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        params={"path": ""},
    ):
        MimecastImportUsersOperator(
            task_id="import_users",
            source="{{ params.path }}",
            group_id="grp-1",
            wait_for_completion=True,
            poll_interval=0.1,
            timeout=60,
            retries=1,
            retry_delay=timedelta(0),
            **{"hook_params": FAST, **limits},
        )

# More IDs than one get-import-status call may carry (Mimecast documents 10), in every mode, then the
# status operator on the same IDs.
for mode in ("poke", "reschedule", "deferrable"):
    with DAG(
        dag_id=f"mimecast_test_many_ids_{mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        params={"import_ids": []},
        render_template_as_native_obj=True,
    ):
        MimecastImportStatusSensor(
            task_id="wait",
            import_id="{{ params.import_ids }}",
            mode="reschedule" if mode == "reschedule" else "poke",
            deferrable=mode == "deferrable",
            poke_interval=0.2,
            timeout=60,
            hook_params=FAST,
        ) >> MimecastGetImportStatusOperator(
            task_id="get_status", import_id="{{ params.import_ids }}", hook_params=FAST
        )

# A sensor whose import Mimecast's answers leave out: it must time out, never succeed or fail at once.
for mode in ("poke", "reschedule"):
    with test_dag(f"mimecast_test_unseen_{mode}"):
        MimecastImportStatusSensor(
            task_id="wait",
            import_id="{{ params.import_id }}",
            mode=mode,
            poke_interval=0.2,
            timeout=2,
            hook_params=FAST,
        )

# The destination group by name or folder path; and a retry (after a read timeout while waiting) that
# resumes the import it started instead of uploading again.
with DAG(
    dag_id="mimecast_test_import_by_group_name",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"group_name": ""},
):
    MimecastImportUsersOperator(
        task_id="import_users", source=ROWS, group_name="{{ params.group_name }}", hook_params=FAST
    )
    MimecastImportUsersOperator(
        task_id="import_and_wait",
        source=ROWS,
        group_name="{{ params.group_name }}",
        wait_for_completion=True,
        poll_interval=0.1,
        timeout=60,
        retries=1,
        retry_delay=timedelta(0),
        hook_params={**FAST, "timeout": 0.3, "max_retries": 0},
    )
