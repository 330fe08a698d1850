"""The scenario: both example DAGs and 100 mapped deferrable waits, with a triggerer killed, Mimecast
restarted, the client secret rotated and Mimecast away for longer than the hook's retry budget; meanwhile
the other ways of waiting (``variants``), each over 100 imports of its own simulator."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import secrets
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from airflow_provider_mimecast.testing.simulator import MimecastSimulator
from deployment.airflow_api import ApiError
from deployment.airflow_deployment import TRIGGERER_HEALTH_SECONDS, AirflowDeployment
from deployment.metadata import Metadata
from deployment.traffic import TRIGGERER, Traffic, token_secret
from deployment.variant_run import VariantRun, VariantRuns
from deployment.variants import BY_NAME, TODAY

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_DAG_FILE = Path(__file__).resolve().parent / "dags" / "mimecast_deployment_waits.py"
VARIANTS_DAG_FILE = Path(__file__).resolve().parent / "dags" / "mimecast_deployment_variants.py"
WAIT_DAG, WAIT_TASK = BY_NAME[TODAY].dag_id, "wait_for_import"
SYNC_DAG, WAIT_EXAMPLE_DAG = "example_mimecast_directory_sync", "example_mimecast_wait_for_import"
DAG_IDS = (SYNC_DAG, WAIT_EXAMPLE_DAG, WAIT_DAG)
OAUTH_CONN, HMAC_CONN = "mimecast_default", "mimecast_hmac"
#: The disruptions, in the order they run.
PHASES = ("kill", "restart", "rotate", "outage")
#: Rounds each measurement of the triggerers' request rate spans.
MEASURED_ROUNDS = 3
#: Seconds the examples poll at: the simulator finishes their imports in 3 s.
EXAMPLE_POLL_SECONDS = 2

T = TypeVar("T")


class PhaseError(RuntimeError):
    """A phase could not go on (its condition never came): the scenario stops and reports."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Mark:
    label: str
    at: float  # time.monotonic()
    requests: int  # how many requests the simulator had recorded


@dataclass
class Options:
    waits: int = 100
    poke_seconds: float = 5.0
    outage_seconds: float = 45.0
    phases: tuple[str, ...] = PHASES
    parallelism: int = 8
    status_batch_size: int = 10
    #: The ways of waiting besides today's (names from ``deployment.variants``).
    variants: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What the scenario saw, for the checks and the table."""

    checks: list[Check] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list)
    wait_ids: list[str] = field(default_factory=list)
    created_ids: set[str] = field(default_factory=set)
    completed_at: float | None = None  # Unix time the waited-for imports completed
    token_bound: int = 0  # tokens the triggerers may fetch: one per process plus one per renewal
    triggerer_job: dict[str, str] = field(default_factory=dict)  # process name -> job ID
    phase_seconds: dict[str, float] = field(default_factory=dict)  # phase -> how long it took
    #: (phase, from, to) in Unix time, to place the triggerers' blocked-loop warnings.
    windows: list[tuple[str, float, float]] = field(default_factory=list)


class Scenario:
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

    # ------------------------------------------------------------------ helpers
    def say(self, message: str) -> None:
        self.echo(f"[{time.monotonic() - self.started:6.1f} s] {message}")

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase; its time is printed at once and in the table."""
        began, began_unix = time.monotonic(), time.time()
        try:
            yield
        finally:
            took = time.monotonic() - began
            self.outcome.phase_seconds[name] = took
            self.outcome.windows.append((name, began_unix, time.time()))
            self.say(f"phase {name}: {took:.0f} s")

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.outcome.checks.append(Check(name, ok, detail))
        if not ok:
            self.say(f"FAILED: {name}: {detail}")
        return ok

    def mark(self, label: str) -> Mark:
        mark = Mark(label, time.monotonic(), len(self.sim.requests))
        self.outcome.marks.append(mark)
        return mark

    def since(self, mark: Mark) -> Traffic:
        return Traffic(self.sim.requests[mark.requests :])

    def between(self, start: Mark, end: Mark) -> Traffic:
        return Traffic(self.sim.requests[start.requests : end.requests])

    def wait_for(
        self, what: str, condition: Callable[[], T | None], timeout: float, interval: float = 1.0
    ) -> T:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            try:
                result = condition()
            except (OSError, ApiError) as error:  # a component busy or restarting: ask again
                result, last = None, error
            else:
                last = None
            if result:
                return result
            if time.monotonic() > deadline:
                raise PhaseError(f"{what}: not within {timeout:.0f} s" + (f" ({last})" if last else ""))
            time.sleep(interval)

    @property
    def poke(self) -> float:
        return self.options.poke_seconds

    def waits(self) -> list[Any]:
        return [ti for ti in self.metadata.task_instances(WAIT_DAG) if ti.task_id == WAIT_TASK]

    def fired_early(self) -> list[Any]:
        """Waits no longer deferred while their imports are still processing: their trigger fired an error
        (or their task died), so they fail. Until complete_imports() nothing else can end a wait."""
        return [ti for ti in self.waits() if ti.state != "deferred"]

    def still_deferred(self, phase: str) -> bool:
        left = self.fired_early()
        return self.check(
            f"{phase}: every wait still deferred",
            not left,
            f"{len(left)} of {self.options.waits} waits left the triggerer before their imports completed"
            + (f", e.g. {left[0].name} ({left[0].state or 'no state'}): see its task log" if left else ""),
        )

    def holders(self) -> dict[str, int]:
        """Triggerer job ID -> how many of the waits' triggers it holds."""
        counts: dict[str, int] = {}
        for holder in self.metadata.trigger_holders(WAIT_DAG, WAIT_TASK).values():
            counts[holder] = counts.get(holder, 0) + 1
        return counts

    def answered_again(self, phase: str, mark: Mark, timeout: float) -> float | None:
        """Wait until every wait's ID got an answer from Mimecast to a triggerer's request after ``mark``;
        return the seconds that took, or None (and a failed check) if a wait failed first or time ran out."""
        wanted = set(self.outcome.wait_ids)

        def answered() -> bool:
            if self.fired_early():
                raise PhaseError("a wait left the triggerer")
            return wanted <= self.since(mark).answered_ids(TRIGGERER)

        try:
            self.wait_for(f"{phase}: every wait polled again", answered, timeout, interval=0.5)
        except PhaseError as error:
            self.check(f"{phase}: the triggerers poll every wait again", False, str(error))
            return None
        return time.monotonic() - mark.at

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

    def measure_rounds(self, label: str) -> None:
        """Count the triggerers' status requests over a few rounds and compare them with the batches that
        the triggers they hold make: ceil(triggers / status_batch_size) per triggerer per round."""
        held_before = self.holders()
        start = self.mark(f"rounds: {label}")
        time.sleep(MEASURED_ROUNDS * self.poke)
        end = self.mark(f"rounds end: {label}")
        held_after = self.holders()
        batch = self.options.status_batch_size
        expected = sum(math.ceil(count / batch) for holder, count in held_after.items() if holder)
        sent = len(self.between(start, end).status_requests(TRIGGERER))
        per_round = sent / MEASURED_ROUNDS
        self.outcome.figures[f"status requests per round, {label}"] = (
            f"{per_round:.1f} (expected {expected}: {sorted(held_after.values())} triggers, batches of {batch})"
        )
        self.check(
            f"{label}: status requests per round = ceil(triggers / status_batch_size) per triggerer",
            held_before == held_after and abs(sent - MEASURED_ROUNDS * expected) <= expected,
            f"{sent} requests in {MEASURED_ROUNDS} rounds of {self.poke:g} s, expected {MEASURED_ROUNDS} x "
            f"{expected} (+/- {expected}); triggers held {held_before} -> {held_after}",
        )

    def kill_triggerer(self) -> None:
        held = self.holders()
        victim_job = max((h for h in held if h), key=lambda h: held[h])
        name = next(n for n, job in self.outcome.triggerer_job.items() if job == victim_job)
        self.say(f"SIGKILL {name} (job {victim_job}, {held[victim_job]} triggers) and everything it started")
        mark = self.mark("kill")
        self.deployment.processes[name].kill_session(signal.SIGKILL)

        def handed_over() -> bool:
            return victim_job not in self.holders()

        try:
            self.wait_for(
                "triggers handed to the other triggerer", handed_over, TRIGGERER_HEALTH_SECONDS + 120
            )
        except PhaseError as error:
            self.check("kill: the other triggerer takes the triggers over", False, str(error))
            return
        self.outcome.figures["handover after SIGKILL"] = f"{time.monotonic() - mark.at:.0f} s"
        took = self.answered_again("kill", mark, timeout=2 * self.poke + 60)
        if took is not None:
            self.say(f"the surviving triggerer polls every wait, {took:.0f} s after the kill")
        self.still_deferred("kill")
        self.measure_rounds("one triggerer")

    def live_triggerers(self) -> int:
        return sum(1 for name in self.outcome.triggerer_job if self.deployment.processes[name].alive())

    def restart_simulator(self) -> None:
        self.say("restarting the simulator: every token it issued is forgotten")
        mark = self.mark("restart")
        self.sim.stop()
        self.sim.forget_tokens()
        self.sim.start()
        self.outcome.token_bound += self.live_triggerers()  # one renewal each
        took = self.answered_again("restart", mark, timeout=2 * self.poke + 60)
        if took is not None:
            self.say(f"every wait answered again {took:.0f} s after the restart")
        renewed = self.since(mark).tokens(TRIGGERER, 200)
        self.check("restart: the triggerer renews its token", bool(renewed), f"{len(renewed)} tokens issued")
        self.still_deferred("restart")

    def rotate_secret(self) -> None:
        new_secret = "rotated-" + secrets.token_urlsafe(24)
        self.say("rotating the client secret: the simulator and the connection, and tokens forgotten")
        mark = self.mark("rotate")
        self.sim.set_credentials(dataclasses.replace(self.sim.credentials, client_secret=new_secret))
        self.deployment.api.patch(
            f"/api/v2/connections/{OAUTH_CONN}",
            {"connection_id": OAUTH_CONN, "conn_type": "mimecast", "password": new_secret},
            update_mask="password",
        )
        # As when the old secret's token expires: the next renewal needs the new secret.
        self.sim.forget_tokens()
        self.outcome.token_bound += self.live_triggerers()
        took = self.answered_again("rotate", mark, timeout=3 * self.poke + 90)
        if took is not None:
            self.say(f"every wait answered again {took:.0f} s after the rotation")
        renewed = [r for r in self.since(mark).tokens(TRIGGERER, 200) if token_secret(r) == new_secret]
        self.check(
            "rotate: the triggerer renews its token with the new secret",
            bool(renewed),
            f"{len(renewed)} tokens issued for the new secret, "
            f"{len(self.since(mark).tokens(TRIGGERER)) - len(renewed)} token requests refused",
        )
        self.still_deferred("rotate")

    def take_mimecast_away(self) -> None:
        seconds = self.options.outage_seconds
        self.say(f"Mimecast away for {seconds:.0f} s (longer than the hook's retry budget)")
        self.mark("outage")
        self.sim.stop()
        time.sleep(seconds)
        self.sim.start()
        back = self.mark("back")
        took = self.answered_again("outage", back, timeout=2 * self.poke + 90)
        if took is not None:
            self.outcome.figures["first answer after the outage"] = f"{took:.0f} s after Mimecast was back"
            self.say(f"every wait answered again {took:.0f} s after Mimecast came back")
        self.still_deferred("outage")

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
