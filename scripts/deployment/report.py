"""The checks on what the simulator counted and the metadata database holds, and the printed table."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from statistics import mean

from airflow_provider_mimecast.testing.simulator import GET_IMPORT_STATUS_PATH
from deployment.metadata import TaskInstance
from deployment.scenario import DAG_IDS, Scenario
from deployment.scenario_steps import WAIT_DAG, WAIT_TASK, Check
from deployment.traffic import TRIGGERER, WORKER, Traffic, sender, status_ids
from deployment.variant_run import STATUS_SLACK, SUCCESS_SLACK_SECONDS, TOKEN_GOAL, Figures
from deployment.variants import BY_NAME, TODAY

BLOCKED = re.compile(r"^(\S+) .*async thread was blocked for ([0-9.]+) seconds", re.MULTILINE)


@dataclass(frozen=True)
class Blocked:
    at: float | None  # Unix time of the warning, if its line has a readable timestamp
    seconds: float  # how long the loop was stuck


def blocked_warnings(logs: Sequence[Path]) -> list[Blocked]:
    """Each "async thread was blocked" warning in the triggerers' logs: when, and how long."""
    found: list[Blocked] = []
    for log in logs:
        for match in BLOCKED.finditer(log.read_text(errors="replace")):
            try:
                at: float | None = datetime.fromisoformat(match.group(1).replace("Z", "+00:00")).timestamp()
            except ValueError:
                at = None
            found.append(Blocked(at, float(match.group(2))))
    return found


def blocked_by_window(scenario: Scenario, blocked: Sequence[Blocked]) -> list[str]:
    """Where the warnings fell: today's phases, and each variant's start and completion (which overlap
    today's phases)."""
    windows = [(f"phase {name}", a, b) for name, a, b in scenario.outcome.windows]
    windows += [
        (f"{run.variant.name} {what}", a, b) for run in scenario.variants for what, a, b in run.windows
    ]
    lines = []
    for label, start, end in windows:
        inside = [b.seconds for b in blocked if b.at is not None and start <= b.at <= end]
        if inside:
            lines.append(f"  {label}: {len(inside)}, longest {max(inside):.2f} s, {sum(inside):.1f} s in all")
    return lines


def final_checks(scenario: Scenario, traffic: Traffic) -> list[Check]:
    outcome, metadata, options = scenario.outcome, scenario.metadata, scenario.options
    checks: list[Check] = []
    runs = metadata.dag_runs()
    checks.append(
        Check(
            "every DAG run succeeded",
            len(runs) == len(DAG_IDS) + len(scenario.variants)
            and all(state == "success" for state in runs.values()),
            ", ".join(f"{dag}: {state}" for (dag, _), state in sorted(runs.items())),
        )
    )
    tis = metadata.task_instances()
    bad = [ti for ti in tis if not _first_try_success(ti)]
    checks.append(
        Check(
            "every task instance succeeded (or was skipped by its branch) in its first try",
            not bad,
            f"{len(tis)} task instances"
            + (
                f"; not so: {', '.join(f'{t.name} {t.state} try {t.try_number}' for t in bad[:5])}"
                if bad
                else ""
            ),
        )
    )
    waits = [ti for ti in tis if ti.dag_id == WAIT_DAG and ti.task_id == WAIT_TASK]
    checks.append(
        Check(
            f"{options.waits} mapped waits succeeded",
            len(waits) == options.waits and all(ti.state == "success" for ti in waits),
            f"{sum(ti.state == 'success' for ti in waits)} of {len(waits)}",
        )
    )
    uploads = traffic.uploads(200)
    upload_tasks = [ti for ti in tis if ti.task_id == "start_import" and ti.state == "success"]
    uploaded_imports = set(scenario.sim.import_ids()) - outcome.created_ids
    checks.append(
        Check(
            "uploads = imports: one accepted upload per start_import task, no duplicate import",
            len(uploads) == len(upload_tasks) == len(uploaded_imports) == 1,
            f"{len(uploads)} accepted uploads, {len(upload_tasks)} start_import tasks, "
            f"{len(uploaded_imports)} imports created by uploads, {len(traffic.uploads())} upload requests",
        )
    )
    # Today's simulator serves only today's DAGs: the other variants have simulators of their own.
    runs_started = sum(n for (dag, _), n in metadata.worker_task_runs().items() if dag in DAG_IDS)
    worker_tokens = len(traffic.tokens(WORKER, 200))
    checks.append(
        Check(
            "worker tokens <= worker task runs (each task process has an empty token cache)",
            worker_tokens <= runs_started,
            f"{worker_tokens} tokens for {runs_started} task processes",
        )
    )
    issued, asked = len(traffic.tokens(TRIGGERER, 200)), len(traffic.tokens(TRIGGERER))
    checks.append(
        Check(
            "triggerer tokens <= one per triggerer process plus one per renewal (restart, rotation)",
            issued <= outcome.token_bound and asked <= 2 * outcome.token_bound,
            f"{issued} issued of {asked} token requests; bound {outcome.token_bound} issued",
        )
    )
    batch = options.status_batch_size
    largest = max((len(status_ids(r)) for r in traffic.status_requests()), default=0)
    checks.append(
        Check(
            "status_batch_size holds on every path",
            largest <= batch,
            f"largest status request: {largest} IDs (status_batch_size {batch})",
        )
    )
    start = next(m for m in outcome.marks if m.label == "runs")
    end = outcome.marks[-1]
    # One poll per interval from the first deferral to the end, plus one more per disruption: a handover
    # or a refused token polls again at once. A hot loop or a duplicate poller would be far above this.
    bound = math.ceil((end.at - start.at) / options.poke_seconds) + 2 + 2 * len(options.phases)
    polls = traffic.polls_per_id(outcome.wait_ids, TRIGGERER)
    most = max(polls.values(), default=0)
    checks.append(
        Check(
            "no wait is polled by the triggerers more than once per interval (+1 per disruption)",
            most <= bound,
            f"most polls of one ID: {most}; bound {bound} ({end.at - start.at:.0f} s at "
            f"{options.poke_seconds:g} s, {len(options.phases)} disruptions)",
        )
    )
    for run in scenario.variants:
        checks += run.checks()
    checks.append(_no_429_after_the_first_round(scenario, traffic))
    return checks


def _no_429_after_the_first_round(scenario: Scenario, traffic: Traffic) -> Check:
    """Against Mimecast's documented bucket (every simulator meters it): no 429 once the first round has
    told each process what the bucket holds."""
    first_round = math.ceil(scenario.options.waits / scenario.options.status_batch_size)
    polls = [
        i
        for i, r in enumerate(traffic.requests)
        if r.path == GET_IMPORT_STATUS_PATH and sender(r) == TRIGGERER
    ][:first_round]
    after = traffic.requests[polls[-1] + 1 :] if polls else traffic.requests
    late = sum(r.response_status == 429 for r in after)
    variants = {
        run.variant.name: sum(r.response_status == 429 for r in run.sim.requests) for run in scenario.variants
    }
    bucket = scenario.sim.rate_bucket
    return Check(
        "no 429 after the first round, against the documented rate-limit bucket",
        late == 0 and not any(variants.values()),
        f"bucket {bucket.limit}, {bucket.refill} back every {bucket.reset_ms} ms; today's waits: {late} 429s "
        f"after the first round ({len(traffic.by(status=429))} in all), {scenario.sim.rate_remaining()} left "
        "at the end" + "".join(f"; {name}: {count} 429s" for name, count in variants.items()),
    )


def _first_try_success(ti: TaskInstance) -> bool:
    if ti.state == "skipped":  # the branch not taken never ran
        return ti.try_number <= 1
    return ti.state == "success" and ti.try_number == 1


def table(scenario: Scenario, traffic: Traffic, blocked: Sequence[Blocked], wall_seconds: float) -> str:
    outcome, metadata = scenario.outcome, scenario.metadata
    runs = metadata.worker_task_runs()
    wait_runs = runs.get((WAIT_DAG, WAIT_TASK), 0)
    waits = [ti for ti in metadata.task_instances(WAIT_DAG) if ti.task_id == WAIT_TASK]
    # Only meaningful when every wait succeeded: a failed wait ends before its import completes.
    all_succeeded = bool(waits) and all(ti.state == "success" and ti.end_date for ti in waits)
    last_success = max(ti.end_date or 0.0 for ti in waits) if all_succeeded else None

    def tokens(who: str) -> str:
        return f"{len(traffic.tokens(who, 200))} issued, {len(traffic.tokens(who)) - len(traffic.tokens(who, 200))} refused"

    def ids(who: str) -> str:
        sizes = [len(status_ids(r)) for r in traffic.status_requests(who)]
        return f"{mean(sizes):.1f} mean, {max(sizes)} max" if sizes else "-"

    rows = [
        ("token requests", tokens(WORKER), tokens(TRIGGERER)),
        (
            "status requests",
            str(len(traffic.status_requests(WORKER))),
            f"{len(traffic.status_requests(TRIGGERER))} ({len(traffic.status_requests(TRIGGERER, 200))} answered 200)",
        ),
        ("IDs per status request", ids(WORKER), ids(TRIGGERER)),
        (
            "worker task runs",
            f"{sum(runs.values())} in all; {wait_runs / max(len(waits), 1):.2f} per wait",
            "-",
        ),
    ]
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'':<{width}}{'workers':<34}triggerers", "-" * (width + 70)]
    lines += [f"{label:<{width}}{worker:<34}{triggerer}" for label, worker, triggerer in rows]
    lines.append("")
    if outcome.completed_at and last_success:
        lines.append(
            f"last import completed -> last wait task succeeded: {last_success - outcome.completed_at:.1f} s"
        )
    for label, value in outcome.figures.items():
        lines.append(f"{label}: {value}")
    longest = f", longest {max(b.seconds for b in blocked):.2f} s" if blocked else ""
    lines.append(f'triggerers\' "async thread was blocked" warnings: {len(blocked)}{longest}; during')
    lines += blocked_by_window(scenario, blocked) or ["  -"]
    lines.append(f"phases: {', '.join(scenario.options.phases) or 'none'}; wall time {wall_seconds:.0f} s")
    times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in outcome.phase_seconds.items())
    lines.append(f"phase times: {times or '-'}")
    return "\n".join(lines)


def today_figures(scenario: Scenario, traffic: Traffic) -> Figures:
    """Today's column: the waits of ``mimecast_deployment_waits`` (their simulator also serves the examples,
    one token and one status request each, and its triggerers' figures include the disruptions)."""
    outcome, metadata = scenario.outcome, scenario.metadata
    waits = [ti for ti in metadata.task_instances(WAIT_DAG) if ti.task_id == WAIT_TASK]
    runs = metadata.worker_task_runs().get((WAIT_DAG, WAIT_TASK), 0)
    succeeded = bool(waits) and all(ti.state == "success" and ti.end_date for ti in waits)
    last = max((ti.end_date or 0.0 for ti in waits), default=0.0)
    return Figures(
        tokens=(len(traffic.tokens(WORKER)), len(traffic.tokens(TRIGGERER))),
        status=(len(traffic.status_requests(WORKER)), len(traffic.status_requests(TRIGGERER))),
        worker_runs_per_wait=runs / max(len(waits), 1),
        completion_to_success=last - outcome.completed_at if succeeded and outcome.completed_at else None,
    )


def comparison(scenario: Scenario, traffic: Traffic) -> str:
    """The issue's table, one column per way of waiting, and the goal."""
    poke, batch, n = scenario.options.poke_seconds, scenario.options.status_batch_size, scenario.options.waits
    columns = [(BY_NAME[TODAY].label, today_figures(scenario, traffic))]
    columns += [(run.variant.label, run.figures()) for run in scenario.variants]
    goal = (
        f"<= {TOKEN_GOAL}",
        f"<= rounds x {math.ceil(n / batch)} + {STATUS_SLACK}",
        "1; 0 from the triggerer",
        f"<= {poke + SUCCESS_SLACK_SECONDS:g} s",
    )

    def cells(f: Figures) -> tuple[str, ...]:
        took = f"{f.completion_to_success:.1f} s" if f.completion_to_success is not None else "-"
        bound = f" (bound {f.status_bound}, {f.rounds} rounds)" if f.status_bound is not None else ""
        return (
            f"{sum(f.tokens)} ({f.tokens[0]} w + {f.tokens[1]} t)",
            f"{sum(f.status)} ({f.status[0]} w + {f.status[1]} t){bound}",
            f"{f.worker_runs_per_wait:.2f}",
            took,
        )

    labels = (
        "token requests",
        "status requests",
        "worker task runs per wait",
        "last import completed -> last success",
    )
    table_columns = [(label, cells(f)) for label, f in columns] + [("goal", goal)]
    first = max(len(label) for label in labels) + 2
    widths = [max(len(heading), *(len(c) for c in col)) + 2 for heading, col in table_columns]
    lines = ["".ljust(first) + "".join(h.ljust(w) for (h, _), w in zip(table_columns, widths, strict=True))]
    lines.append("-" * (first + sum(widths)))
    for i, label in enumerate(labels):
        lines.append(
            label.ljust(first)
            + "".join(col[i].ljust(w) for (_, col), w in zip(table_columns, widths, strict=True))
        )
    lines.append("(w: from workers, t: from triggerers; today's simulator also serves the two example DAGs,")
    lines.append(" and its triggerers' figures include the disruptions)")
    for run in scenario.variants:
        quickest = run.figures().completion_to_first_success
        lines.append(
            f"{run.variant.name}: from its trigger, every wait deferred after {_secs(run.deferred_after)}, "
            f"answered in the triggerer after {_secs(run.ready_after)}, run finished after "
            f"{_secs(run.finished_after)}; triggers held {sorted(run.held.values())}; completion -> first "
            f"success {f'{quickest:.1f} s' if quickest is not None else '-'}"
        )
    return "\n".join(lines)


def _secs(value: float | None) -> str:
    return f"{value:.0f} s" if value is not None else "-"
