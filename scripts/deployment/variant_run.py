"""One variant's waits, in a thread of their own: trigger its DAG over imports on its own simulator, wait
until every wait is deferred, complete the imports, wait for the run to end; then its figures and the
goal's checks (issue 17: what a wait costs the workers, with the options that spare them)."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_mimecast.testing.simulator import MimecastSimulator
from deployment.traffic import TRIGGERER, WORKER, Traffic
from deployment.variants import Variant

if TYPE_CHECKING:
    from deployment.scenario import Scenario
    from deployment.scenario_steps import Check

#: The goal: the last task's success at most this long after the poke interval that sees the completion.
SUCCESS_SLACK_SECONDS = 5.0
#: The goal: token and status requests beyond what the rounds need.
TOKEN_GOAL = 2
STATUS_SLACK = 2


@dataclass
class Figures:
    """One column of the comparison table."""

    tokens: tuple[int, int]  # requests from workers, from triggerers
    status: tuple[int, int]
    worker_runs_per_wait: float
    completion_to_success: float | None  # seconds, to the last task's success
    completion_to_first_success: float | None = None
    rounds: int | None = None
    status_bound: int | None = None
    notes: list[str] = field(default_factory=list)


class VariantRun:
    """The run of one variant, driven by :class:`VariantRuns`."""

    def __init__(self, scenario: Scenario, variant: Variant, simulator: MimecastSimulator) -> None:
        self.scenario = scenario
        self.variant = variant
        self.sim = simulator
        self.waits = scenario.options.waits
        self.wait_ids: list[str] = []
        self.error: str | None = None
        self.triggered_at = 0.0  # time.monotonic()
        self._triggered_unix = 0.0
        self.deferred_after: float | None = None
        self.ready_after: float | None = None
        self.finished_after: float | None = None
        self.first_poll_at: float | None = None  # Unix time the first triggerer status request was seen
        self.completed_at: float | None = None  # Unix time its imports completed
        self.held: dict[str, int] = {}  # triggerer job -> triggers, once all were deferred
        #: Set when the lane stops: what fails from then on is the components going away.
        self.stopping = threading.Event()
        #: (what, from, to) in Unix time: its trigger start and its completion, to place blocked-loop warnings.
        self.windows: list[tuple[str, float, float]] = []

    def say(self, message: str) -> None:
        self.scenario.say(f"{self.variant.name}: {message}")

    def fail(self, error: Exception | str) -> None:
        self.error = str(error)
        if not self.stopping.is_set():  # once the lane stops, its components going away is no news
            self.say(f"FAILED: {error}")

    def trigger(self) -> None:
        self.wait_ids = [
            self.sim.create_import(total_users=3, pending_seconds=0, processing_seconds=3600)
            for _ in range(self.waits)
        ]
        self.triggered_at = time.monotonic()
        self._triggered_unix = time.time()
        self.scenario.deployment.api.post(
            f"/api/v2/dags/{self.variant.dag_id}/dagRuns",
            {"logical_date": None, "conf": {"import_ids": self.wait_ids}},
        )
        self.say(f"triggered {self.variant.dag_id} ({self.waits} waits, {dict(self.variant.sensor_kwargs)})")

    def _note_first_poll(self) -> None:
        if self.first_poll_at is None and Traffic(self.sim.requests).status_requests(TRIGGERER):
            self.first_poll_at = time.time()

    def _tis(self) -> list:
        return [
            ti
            for ti in self.scenario.metadata.task_instances(self.variant.dag_id)
            if self.variant.wait_task(ti.task_id)
        ]

    def ready(self) -> bool:
        """Whether every wait is deferred to a triggerer and has had an answer there: a wait in its steady
        rounds, as when an import completes in the middle of a long wait. Raises if a wait ended early."""
        if self.ready_after is not None:
            return True
        self._note_first_poll()
        ended = [
            ti for ti in self._tis() if ti.state not in ("", "scheduled", "queued", "running", "deferred")
        ]
        if ended:
            raise RuntimeError(
                f"{len(ended)} waits ended before their imports completed, e.g. {ended[0].name} "
                f"({ended[0].state}): see its task log"
            )
        if self.deferred_after is None:
            holders = [h for h in self.scenario.metadata.deferred_holders(self.variant.dag_id).values() if h]
            if len(holders) < self.waits:
                return False
            self.held = dict(Counter(holders))
            self.deferred_after = time.monotonic() - self.triggered_at
            self.say(f"all {self.waits} waits deferred after {self.deferred_after:.0f} s: {self.held}")
        if not set(self.wait_ids) <= Traffic(self.sim.requests).answered_ids(TRIGGERER):
            return False
        self.ready_after = time.monotonic() - self.triggered_at
        self.windows.append(("start", self._triggered_unix, time.time()))
        return True

    def complete(self) -> None:
        """Complete its imports and wait until its run ends."""
        poke = self.scenario.poke
        began = time.time()
        self.sim.complete_imports(self.wait_ids, after_seconds=poke)
        self.completed_at = time.time() + poke

        def finished() -> bool:
            states = [
                s for (dag, _), s in self.scenario.metadata.dag_runs().items() if dag == self.variant.dag_id
            ]
            return bool(states) and all(s in ("success", "failed") for s in states)

        self.scenario.wait_for(f"{self.variant.name}: its run finished", finished, timeout=300, interval=0.5)
        self.windows.append(("completion", began, time.time()))
        self.finished_after = time.monotonic() - self.triggered_at
        self.say(f"run finished {self.finished_after:.0f} s after its start")

    # ------------------------------------------------------------------ results
    def figures(self) -> Figures:
        traffic = Traffic(self.sim.requests)
        tis = self._tis()
        runs = self.scenario.metadata.worker_task_runs()
        wait_runs = sum(
            n
            for (dag, task), n in runs.items()
            if dag == self.variant.dag_id and self.variant.wait_task(task)
        )
        last = max((ti.end_date or 0.0 for ti in tis), default=0.0)
        succeeded = len(tis) == self.waits and all(ti.state == "success" and ti.end_date for ti in tis)
        figures = Figures(
            tokens=(len(traffic.tokens(WORKER)), len(traffic.tokens(TRIGGERER))),
            status=(len(traffic.status_requests(WORKER)), len(traffic.status_requests(TRIGGERER))),
            worker_runs_per_wait=wait_runs / max(len(tis), 1),
            completion_to_success=last - self.completed_at if succeeded and self.completed_at else None,
        )
        if succeeded and self.completed_at:
            figures.completion_to_first_success = min(ti.end_date or 0.0 for ti in tis) - self.completed_at
        if self.first_poll_at is not None and succeeded:
            poke = self.scenario.poke
            figures.rounds = math.ceil((last - self.first_poll_at) / poke) + 1
            batch = self.scenario.options.status_batch_size
            # One request per batch per triggerer per round: ceil(N / batch) with one triggerer.
            per_round = sum(math.ceil(n / batch) for n in self.held.values()) or math.ceil(self.waits / batch)
            figures.status_bound = figures.rounds * per_round + STATUS_SLACK
        return figures

    def checks(self) -> list[Check]:
        from deployment.scenario_steps import Check

        name, poke = self.variant.name, self.scenario.poke
        ended = self.error is None and self.finished_after is not None
        checks = [
            Check(
                f"{name}: its waits ran to their end",
                ended,
                self.error or ("yes" if ended else "not finished"),
            )
        ]
        tis = self._tis()
        bad = [ti for ti in tis if not (ti.state == "success" and ti.try_number == 1)]
        checks.append(
            Check(
                f"{name}: {self.waits} waits succeeded in their first try",
                len(tis) == self.waits and not bad,
                f"{len(tis) - len(bad)} of {len(tis)}"
                + (
                    f"; not so: {', '.join(f'{t.name} {t.state} try {t.try_number}' for t in bad[:5])}"
                    if bad
                    else ""
                ),
            )
        )
        f = self.figures()
        tokens = sum(f.tokens)
        checks.append(
            Check(
                f"{name}: token requests <= {TOKEN_GOAL} (workers and triggerers)",
                tokens <= TOKEN_GOAL,
                f"{f.tokens[0]} from workers, {f.tokens[1]} from triggerers",
            )
        )
        status = sum(f.status)
        checks.append(
            Check(
                f"{name}: status requests <= rounds x ceil(waits / status_batch_size) per triggerer + {STATUS_SLACK}",
                f.status_bound is not None and status <= f.status_bound,
                f"{f.status[0]} from workers, {f.status[1]} from triggerers; {f.rounds} rounds of {poke:g} s "
                f"with the triggers held {sorted(self.held.values())}: bound {f.status_bound}",
            )
        )
        allowed = self.variant.worker_runs or ()
        checks.append(
            Check(
                f"{name}: worker task runs per wait in {list(allowed)}",
                any(math.isclose(f.worker_runs_per_wait, n) for n in allowed),
                f"{f.worker_runs_per_wait:.2f} per wait",
            )
        )
        limit = poke + SUCCESS_SLACK_SECONDS
        took = f.completion_to_success
        checks.append(
            Check(
                f"{name}: last import completed -> last task success <= poke interval + {SUCCESS_SLACK_SECONDS:g} s",
                took is not None and took <= limit,
                f"{took:.1f} s (limit {limit:g} s)" if took is not None else "not every wait succeeded",
            )
        )
        return checks


class VariantRuns:
    """Every variant, in one thread beside today's disruptions: all are triggered at once; once every one
    is ready (deferred, answered), their imports complete one variant at a time, so that each one's
    completion is measured with no other variant's workers or task ends competing for the two cores."""

    def __init__(self, runs: list[VariantRun]) -> None:
        self.runs = runs
        self._thread: threading.Thread | None = None

    def stop(self) -> None:
        """The lane is stopping (a failure, Ctrl-C): say nothing more and start nothing new."""
        for run in self.runs:
            run.stopping.set()

    def start(self) -> None:
        if not self.runs:
            return
        for run in self.runs:
            run.trigger()
        self._thread = threading.Thread(target=self._drive, name="variants", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            for run in self.runs:
                if run.error is None and run.finished_after is None:
                    run.error = f"not finished {timeout:.0f} s after today's disruptions ended"

    def _drive(self) -> None:
        scenario = self.runs[0].scenario
        waiting = list(self.runs)
        deadline = time.monotonic() + 600
        while waiting and time.monotonic() < deadline:
            for run in list(waiting):
                try:
                    if run.ready():
                        waiting.remove(run)
                except Exception as error:  # reported as a failed check; the others go on
                    run.fail(error)
                    waiting.remove(run)
            time.sleep(1)
        for run in waiting:
            run.fail("not every wait was deferred and answered within 600 s")
        if any(run.stopping.is_set() for run in self.runs):
            return
        scenario.say("variants: every wait deferred and answered; completing one variant at a time")
        for run in self.runs:
            if run.error is None and not run.stopping.is_set():
                try:
                    run.complete()
                except Exception as error:
                    run.fail(error)
