"""DAGs for the end-to-end tests; Airflow 3's dag.test() runs only DAGs that live in a bundle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Asset

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


def import_and_wait(**settings: Any) -> MimecastImportUsersOperator:
    """The import operator uploading ROWS and waiting for the import (poll 0.2 s, timeout 60 s)."""
    return MimecastImportUsersOperator(
        task_id="import_users",
        source=ROWS,
        wait_for_completion=True,
        poll_interval=0.2,
        timeout=60,
        **{"hook_params": FAST, "group_id": "grp-1", **settings},
    )


for mode in ("poke", "deferrable"):
    with test_dag(f"mimecast_test_import_and_wait_{mode}"):
        import_and_wait(deferrable=mode == "deferrable")

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
    # 3 s: the first try's file check, plan and upload (0.1-0.8 s, the slowest on a loaded machine) must
    # finish before it, so that the timeout hits the wait and not the upload.
    ("execution_timeout", {"execution_timeout": timedelta(seconds=3)}),
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

# A sensor whose import Mimecast's answers leave out: it must time out, never succeed or fail at once. In
# reschedule mode dag.test() sleeps 1 s between tries: a 3 s timeout leaves room for two checks however
# slowly a loaded machine starts each try.
for mode in ("poke", "reschedule"):
    with test_dag(f"mimecast_test_unseen_{mode}"):
        MimecastImportStatusSensor(
            task_id="wait",
            import_id="{{ params.import_id }}",
            mode=mode,
            poke_interval=0.2,
            timeout=3 if mode == "reschedule" else 2,
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

# -- issue 14: retries, mapped tasks, rate limits and outages, soft_fail and never_fail --------------------


def retried_upload(wait: bool, **settings: Any) -> MimecastImportUsersOperator:
    """An upload with one Airflow retry, at once."""
    return MimecastImportUsersOperator(
        task_id="import_users",
        source=ROWS,
        group_id="grp-1",
        wait_for_completion=wait,
        poll_interval=0.1,
        timeout=60,
        retries=1,
        retry_delay=timedelta(0),
        **settings,
    )


for wait in (False, True):
    suffix = "wait" if wait else "nowait"
    with test_dag(f"mimecast_test_upload_retry_{suffix}"):
        # A short HTTP timeout for the read-timeout case, and one retry of the hook's own.
        retried_upload(wait, hook_params={**FAST, "timeout": 1.0, "max_retries": 1})
    # The first try is interrupted by execution_timeout while its upload is in flight; one that uploads
    # again has more time for its own upload and wait on a busy machine.
    for again, limit in ((False, 1), (True, 2)):
        with test_dag(f"mimecast_test_upload_interrupted_{suffix}{'_again' if again else ''}"):
            retried_upload(
                wait,
                retry_ambiguous_failures=again,
                execution_timeout=timedelta(seconds=limit),
                hook_params=FAST,
            )

#: The sensor's and the import operator's wait with one retry of the hook's own, so that an outage
#: outlasts the hook's retries in a couple of requests.
ONE_RETRY = {**FAST, "max_retries": 1}


def templated_wait(mode: str, **settings: Any) -> MimecastImportStatusSensor:
    """A sensor on ``params.import_id`` in one of the three modes."""
    return MimecastImportStatusSensor(
        task_id="wait",
        import_id="{{ params.import_id }}",
        mode="reschedule" if mode == "reschedule" else "poke",
        deferrable=mode == "deferrable",
        poke_interval=0.2,
        hook_params=ONE_RETRY,
        **{"timeout": 60, **settings},
    )


for mode in ("poke", "reschedule", "deferrable"):
    with test_dag(f"mimecast_test_wait_{mode}"):
        templated_wait(mode)
    # soft_fail and never_fail, each with a timeout that passes (0.5 s) and one that an error must beat.
    for flag in ("soft_fail", "never_fail"):
        for length, timeout in (("short", 0.5), ("long", 600)):
            with test_dag(f"mimecast_test_{flag}_{length}_{mode}"):
                templated_wait(mode, timeout=timeout, **{flag: True})

with test_dag("mimecast_test_import_and_wait_deferrable_one_retry"):
    import_and_wait(deferrable=True, hook_params=ONE_RETRY)

# Mapped uploads, one sensor and one status read on all their IDs: the XComArg, a template rendered as a
# native object, or (refused, with the fix) one rendered as text.
TEMPLATED_IDS = "{{ ti.xcom_pull(task_ids='start') }}"
for mode in ("poke", "deferrable", "native", "text"):
    with DAG(
        dag_id=f"mimecast_test_mapped_{mode}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        render_template_as_native_obj=mode == "native",
    ):
        start = MimecastImportUsersOperator.partial(
            task_id="start", group_id="grp-1", hook_params=FAST
        ).expand(source=[ROWS[:1], ROWS, ROWS[1:]])
        ids: Any = start.output if mode in ("poke", "deferrable") else TEMPLATED_IDS
        wait_for_all = MimecastImportStatusSensor(
            task_id="wait",
            import_id=ids,
            deferrable=mode == "deferrable",
            poke_interval=0.2,
            timeout=60,
            hook_params=FAST,
        )
        (
            start
            >> wait_for_all
            >> MimecastGetImportStatusOperator(task_id="status", import_id=ids, hook_params=FAST)
        )
        if mode == "deferrable":
            # And one deferred sensor per upload.
            MimecastImportStatusSensor.partial(
                task_id="wait_each", deferrable=True, poke_interval=0.2, timeout=60, hook_params=FAST
            ).expand(import_id=start.output)

# -- issue 17: waiting that costs no worker: end_from_trigger, check_before_deferring, start_from_trigger ---
for option in ("end_from_trigger", "no_check", "both"):
    options = {
        "end_from_trigger": option in ("end_from_trigger", "both"),
        "check_before_deferring": option == "end_from_trigger",
    }
    with test_dag(f"mimecast_test_sensor_{option}"):
        start = MimecastImportUsersOperator(task_id="start", source=ROWS, group_id="grp-1", hook_params=FAST)
        start >> MimecastImportStatusSensor(
            task_id="wait",
            import_id=start.output,
            deferrable=True,
            poke_interval=0.2,
            timeout=60,
            hook_params=FAST,
            **options,
        )
    if option == "no_check":  # the import operator refuses end_from_trigger (it reads the group on a worker)
        with test_dag(f"mimecast_test_import_and_wait_{option}"):
            import_and_wait(deferrable=True, **options)
    # soft_fail and never_fail with the triggerer ending the task.
    for flag in ("soft_fail", "never_fail"):
        for length, timeout in (("short", 0.5), ("long", 600)):
            with test_dag(f"mimecast_test_{flag}_{length}_{option}"):
                templated_wait("deferrable", timeout=timeout, **{flag: True, **options})

with test_dag("mimecast_test_start_from_trigger"):
    # dag.test() runs every task on its worker path: the sensor must still wait and succeed there.
    templated_wait("deferrable", start_from_trigger=True, end_from_trigger=True)

# -- issue 25: the import result on the asset (dataset) events of the tasks' outlets ------------------------
for mode in ("poke", "deferrable"):
    with test_dag(f"mimecast_test_outlets_{mode}"):
        started = MimecastImportUsersOperator(
            task_id="start",
            source=ROWS,
            group_id="grp-1",
            hook_params=FAST,
            outlets=[Asset("mimecast_test_started")],
        )
        # Deferrable: the result reaches the outlets from execute_complete, after the trigger.
        import_and_wait(
            group_id=None,
            group_name="Directory Sync",
            deferrable=mode == "deferrable",
            outlets=[Asset("mimecast_test_imported"), Asset("mimecast_test_imported_too")],
        )
        MimecastImportStatusSensor(
            task_id="wait",
            import_id=started.output,
            mode="poke",
            deferrable=mode == "deferrable",
            poke_interval=0.2,
            timeout=60,
            hook_params=FAST,
            outlets=[Asset("mimecast_test_waited")],
        )
