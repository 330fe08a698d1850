"""What Airflow's metadata database says: task instances, triggers and who holds them, worker task runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from deployment.postgres import Cluster


@dataclass(frozen=True)
class TaskInstance:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: str
    try_number: int
    end_date: float | None  # Unix time

    @property
    def name(self) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{index} ({self.run_id})"


class Metadata:
    """Reads the metadata database with psql."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def task_instances(self, dag_id: str | None = None) -> list[TaskInstance]:
        where = f"WHERE dag_id = '{dag_id}'" if dag_id else ""
        rows = self.cluster.query(
            "SELECT dag_id, run_id, task_id, map_index, coalesce(state, ''), try_number, "
            f"extract(epoch FROM end_date) FROM task_instance {where} ORDER BY dag_id, run_id, task_id, map_index"
        )
        return [
            TaskInstance(d, r, t, int(m), s, int(n), float(e) if e else None) for d, r, t, m, s, n, e in rows
        ]

    def dag_runs(self) -> dict[tuple[str, str], str]:
        """(dag_id, run_id) -> state, for every run."""
        rows = self.cluster.query("SELECT dag_id, run_id, state FROM dag_run")
        return {(d, r): s for d, r, s in rows}

    def trigger_holders(self, dag_id: str, task_id: str) -> dict[int, str]:
        """map_index -> the triggerer job ID holding that deferred task's trigger ('' while unassigned)."""
        rows = self.cluster.query(
            "SELECT ti.map_index, coalesce(t.triggerer_id::text, '') FROM task_instance ti "
            f"JOIN trigger t ON ti.trigger_id = t.id WHERE ti.dag_id = '{dag_id}' AND ti.task_id = '{task_id}'"
            " AND ti.state = 'deferred'"
        )
        return {int(m): holder for m, holder in rows}

    def deferred_holders(self, dag_id: str) -> dict[tuple[str, int], str]:
        """(task_id, map_index) -> the triggerer job ID holding that deferred task's trigger ('' while
        unassigned), for every deferred task of ``dag_id``."""
        rows = self.cluster.query(
            "SELECT ti.task_id, ti.map_index, coalesce(t.triggerer_id::text, '') FROM task_instance ti "
            f"JOIN trigger t ON ti.trigger_id = t.id WHERE ti.dag_id = '{dag_id}' AND ti.state = 'deferred'"
        )
        return {(t, int(m)): holder for t, m, holder in rows}

    def triggerer_jobs(self) -> list[str]:
        """IDs of the triggerer jobs that ever ran, oldest first."""
        rows = self.cluster.query("SELECT id FROM job WHERE job_type = 'TriggererJob' ORDER BY id")
        return [row[0] for row in rows]

    def worker_task_runs(self) -> Counter[tuple[str, str]]:
        """(dag_id, task_id) -> task processes started on workers.

        The execution API writes one ``running`` row to the audit log each time a task process starts (from
        ``queued``): a deferred task that resumes is a second process and a second row.
        """
        rows = self.cluster.query(
            "SELECT dag_id, task_id, count(*) FROM log WHERE event = 'running' GROUP BY dag_id, task_id"
        )
        return Counter({(d, t): int(n) for d, t, n in rows})
