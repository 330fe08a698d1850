"""DAGs for the directory-sync tests (issue 23): the plan, the deletion guard, dry runs, skips,
not_in_group and remove_missing, each run with dag.test() against the simulator."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_mimecast.operators.import_users import MimecastImportUsersOperator

FAST = {"retry_delay": 0.01}
#: One Airflow retry at once, and no retry in the hook: a failed call ends the try, so that a test can cut a
#: try at any step.
ONE_RETRY = {"retries": 1, "retry_delay": timedelta(0), "hook_params": {**FAST, "max_retries": 0}}


def sync_dag(dag_id: str, **settings: Any) -> None:
    """One import task (``sync``) whose file, group and ``max_removals`` come from the run's conf."""
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        params={"path": "", "group_id": "", "max_removals": "default"},
    ):
        MimecastImportUsersOperator(
            task_id="sync",
            source="{{ params.path }}",
            group_id="{{ params.group_id }}",
            max_removals="{{ params.max_removals }}",
            poll_interval=0.1,
            timeout=60,
            **{"hook_params": FAST, **settings},
        )


# The guard: clear_group with a retry, to show that a refusal is not retried.
sync_dag("mimecast_test_sync_clear_group", clear_group=True, wait_for_completion=True, **ONE_RETRY)
sync_dag("mimecast_test_sync_dry_run", clear_group=True, dry_run=True)
sync_dag("mimecast_test_sync_skip", skip_if_unchanged=True, wait_for_completion=True)
for mode in ("poke", "deferrable"):
    sync_dag(f"mimecast_test_sync_wait_{mode}", wait_for_completion=True, deferrable=mode == "deferrable")
    sync_dag(
        f"mimecast_test_sync_partial_{mode}",
        wait_for_completion=True,
        deferrable=mode == "deferrable",
        fail_on_partial_import=True,
    )
sync_dag("mimecast_test_sync_remove_missing", remove_missing=True, wait_for_completion=True, **ONE_RETRY)
sync_dag(
    "mimecast_test_sync_remove_missing_deferrable",
    remove_missing=True,
    wait_for_completion=True,
    deferrable=True,
    **ONE_RETRY,
)
sync_dag("mimecast_test_sync_import_only")

# not_in_group on mapped tasks: one import per group, each map index reporting its own rejected rows.
MAPPED_SYNC_ROWS = {
    "EMEA": [
        {"email": "ada@example.com", "name": "Ada"},
        {"email": "rejected.emea@example.com", "name": "Emea"},
    ],
    "Americas": [
        {"email": "rejected.americas@example.com", "name": "Americas"},
        {"email": "grace@example.com", "name": "Grace"},
        {"email": "linus@example.com", "name": "Linus"},
    ],
}
for mode in ("poke", "deferrable"):
    with DAG(
        dag_id=f"mimecast_test_sync_mapped_{mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
    ):
        MimecastImportUsersOperator.partial(
            task_id="sync",
            wait_for_completion=True,
            deferrable=mode == "deferrable",
            poll_interval=0.1,
            timeout=60,
            hook_params=FAST,
        ).expand_kwargs([{"source": rows, "group_name": name} for name, rows in MAPPED_SYNC_ROWS.items()])
