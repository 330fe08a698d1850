"""The scenario: both example DAGs and 100 mapped deferrable waits, with a triggerer killed, Mimecast
restarted, the client secret rotated and Mimecast away for longer than the hook's retry budget; meanwhile
the other ways of waiting (``variants``), each over 100 imports of its own simulator."""

from __future__ import annotations

import functools
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_mimecast.testing.simulator import MimecastSimulator
from deployment.airflow_api import ApiError
from deployment.airflow_deployment import AirflowDeployment
from deployment.disruptions import Disruptions
from deployment.metadata import Metadata
from deployment.scenario_steps import (
    HMAC_CONN,
    OAUTH_CONN,
    WAIT_DAG,
    Options,
    Outcome,
    PhaseError,
)
from deployment.variant_run import VariantRun, VariantRuns
from deployment.variants import BY_NAME, TODAY

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_DAG_FILE = Path(__file__).resolve().parent / "dags" / "mimecast_deployment_waits.py"
VARIANTS_DAG_FILE = Path(__file__).resolve().parent / "dags" / "mimecast_deployment_variants.py"
SYNC_DAG, WAIT_EXAMPLE_DAG = "example_mimecast_directory_sync", "example_mimecast_wait_for_import"
DAG_IDS = (SYNC_DAG, WAIT_EXAMPLE_DAG, WAIT_DAG)
#: Seconds the examples poll at: the simulator finishes their imports in 3 s.
EXAMPLE_POLL_SECONDS = 2


class Scenario(Disruptions):
    def __init__(
        self,
        deployment: AirflowDeployment,
        metadata: Metadata,
        simulator: MimecastSimulator,
        options: Options,
        *,
        variant_simulators: dict[str, MimecastSimulator] | None = None,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.deployment = deployment
        self.metadata = metadata
        self.sim = simulator
        self.options = options
        self.echo = echo
        self.outcome = Outcome()
        self.started = time.monotonic()
        sims = variant_simulators or {}
        self.variants: list[VariantRun] = [
            VariantRun(self, BY_NAME[name], sims[name]) for name in options.variants if name != TODAY
        ]
        self.variant_runs = VariantRuns(self.variants)

    # ------------------------------------------------------------------ phases
    def run(self) -> Outcome:
        with self.phase("start"):
            self.start_components()
            self.add_connections()
        with self.phase("deferral"):
            self.start_runs()
            self.wait_deferred()
        with self.phase("rounds"):
            self.measure_rounds("two triggerers")
        phases = self.options.phases
        if "kill" in phases:
            with self.phase("kill"):
                self.kill_triggerer()
        # From here on no triggerer is killed: the other variants wait beside today's, each on a simulator
        # and connection of its own, which the disruptions below do not touch.
        self.start_variants()
        if "restart" in phases:
            with self.phase("restart"):
                self.restart_simulator()
        if "rotate" in phases:
            with self.phase("rotate"):
                self.rotate_secret()
        if "outage" in phases:
            with self.phase("outage"):
                self.take_mimecast_away()
        if self.variants:
            with self.phase("variants (what was left of them)"):
                self.join_variants()
        with self.phase("completion"):
            self.complete_imports()
        return self.outcome

    def start_variants(self) -> None:
        self.variant_runs.start()

    def join_variants(self) -> None:
        self.variant_runs.join(600)

    def start_components(self) -> None:
        d = self.deployment
        shutil.copytree(ROOT / "example_dags", d.dags_folder, dirs_exist_ok=True)
        shutil.copy(DEPLOYMENT_DAG_FILE, d.dags_folder)
        if self.variants:
            shutil.copy(VARIANTS_DAG_FILE, d.dags_folder)
        self.say("airflow db migrate")
        d.airflow("db", "migrate", log_name="db-migrate.log")
        self.say("starting api-server, scheduler, dag-processor and two triggerers")
        d.start("api-server", "api-server")
        d.start("scheduler", "scheduler")
        d.start("dag-processor", "dag-processor")
        # One after the other, so that each triggerer's job ID is known: the kill picks one by its triggers.
        for name in ("triggerer-1", "triggerer-2"):
            before = set(self.metadata.triggerer_jobs())
            process = d.start_triggerer(name)

            def new_job(before: set[str] = before, process: Any = process, name: str = name) -> str | None:
                if not process.alive():
                    raise PhaseError(f"{name} exited:\n{process.tail()}")
                jobs = [job for job in self.metadata.triggerer_jobs() if job not in before]
                return jobs[0] if jobs else None

            self.outcome.triggerer_job[name] = self.wait_for(f"{name} to start", new_job, timeout=180)

        def healthy() -> bool:
            for process in d.processes.values():
                if not process.alive():
                    raise PhaseError(f"{process.name} exited:\n{process.tail()}")
            health = d.api.health()
            return bool(health) and all(part.get("status") == "healthy" for part in (health or {}).values())

        self.wait_for("every component healthy (/api/v2/monitor/health)", healthy, timeout=180)
        self.outcome.token_bound = 2  # each triggerer fetches one token when its first wait arrives
        self.say("deployment healthy")

    def add_connections(self) -> None:
        # In the metadata database, not in environment variables: a rotated secret reaches running components.
        connections = [(OAUTH_CONN, self.sim, "oauth2"), (HMAC_CONN, self.sim, "hmac")]
        connections += [(run.variant.conn_id, run.sim, "oauth2") for run in self.variants]
        for conn_id, sim, auth_type in connections:
            conn = json.loads(sim.airflow_connection(auth_type))
            self.deployment.api.post(
                "/api/v2/connections",
                {
                    "connection_id": conn_id,
                    "conn_type": conn["conn_type"],
                    "host": conn["host"],
                    "login": conn["login"],
                    "password": conn["password"],
                    "extra": json.dumps(conn["extra"]),
                },
            )

    def parsed(self, dag_id: str) -> bool:
        try:
            return bool(self.deployment.api.get(f"/api/v2/dags/{dag_id}"))
        except ApiError:  # 404 until the dag-processor has parsed it
            return False

    def start_runs(self) -> None:
        api = self.deployment.api
        for dag_id in (*DAG_IDS, *(run.variant.dag_id for run in self.variants)):
            self.wait_for(f"{dag_id} parsed", functools.partial(self.parsed, dag_id), 180)
        example_id = self.sim.create_import(total_users=5)
        # Processing for an hour: complete_imports() ends them once the last disruption is over.
        waits = [
            self.sim.create_import(total_users=3, pending_seconds=0, processing_seconds=3600)
            for _ in range(self.options.waits)
        ]
        self.outcome.wait_ids = waits
        self.outcome.created_ids = {example_id, *waits}
        confs = {
            SYNC_DAG: {},
            WAIT_EXAMPLE_DAG: {"import_id": example_id, "mimecast_conn_id": HMAC_CONN},
            WAIT_DAG: {"import_ids": waits},
        }
        self.mark("runs")
        for dag_id, conf in confs.items():
            api.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        self.say(f"triggered {', '.join(DAG_IDS)} ({self.options.waits} waits)")

    def wait_deferred(self) -> None:
        """Until every wait is deferred to a triggerer and the examples are done: from here on no worker
        calls Mimecast until the imports complete, so the disruptions hit only the triggerers."""
        n = self.options.waits

        def ready() -> bool:
            waits = self.waits()
            failed = [ti.name for ti in waits if ti.state in ("failed", "upstream_failed", "up_for_retry")]
            if failed:
                raise PhaseError(f"{len(failed)} waits failed before deferring, e.g. {failed[0]}")
            held = sum(count for holder, count in self.holders().items() if holder)
            examples = [
                s for (dag, _), s in self.metadata.dag_runs().items() if dag in (SYNC_DAG, WAIT_EXAMPLE_DAG)
            ]
            return held == n and all(s in ("success", "failed") for s in examples)

        self.wait_for(f"{n} waits deferred to the triggerers, examples done", ready, timeout=900, interval=2)
        self.outcome.figures["all waits deferred, from the runs' start"] = (
            f"{time.monotonic() - self.outcome.marks[0].at:.0f} s"
        )
        self.say(f"all {n} waits deferred: {self.holders()} (triggerer job -> triggers)")

    def complete_imports(self) -> None:
        self.say("completing the imports")
        self.mark("complete")
        self.sim.complete_imports(self.outcome.wait_ids, after_seconds=self.poke)
        self.outcome.completed_at = time.time() + self.poke

        def finished() -> bool:
            runs = self.metadata.dag_runs()
            return bool(runs) and all(state in ("success", "failed") for state in runs.values())

        self.wait_for("every DAG run finished", finished, timeout=900, interval=2)
        self.mark("end")
        self.say("every DAG run finished")
