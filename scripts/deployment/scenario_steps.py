"""What every phase of the scenario uses: its options, what it saw (checks, marks, figures) and the helpers
that time a phase, record a check, mark the simulator's request log and wait for a condition."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_provider_mimecast.testing.simulator import MimecastSimulator
from deployment.airflow_api import ApiError
from deployment.airflow_deployment import AirflowDeployment
from deployment.metadata import Metadata
from deployment.traffic import TRIGGERER, Traffic
from deployment.variants import BY_NAME, TODAY

WAIT_DAG, WAIT_TASK = BY_NAME[TODAY].dag_id, "wait_for_import"
OAUTH_CONN, HMAC_CONN = "mimecast_default", "mimecast_hmac"
#: The disruptions, in the order they run.
PHASES = ("kill", "restart", "rotate", "outage")
#: Rounds each measurement of the triggerers' request rate spans.
MEASURED_ROUNDS = 3

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


class ScenarioSteps:
    """The helpers of :class:`~deployment.scenario.Scenario`, which sets these attributes."""

    deployment: AirflowDeployment
    metadata: Metadata
    sim: MimecastSimulator
    options: Options
    echo: Callable[[str], None]
    outcome: Outcome
    started: float

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
