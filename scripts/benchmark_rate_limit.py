"""The rate-limit section of the benchmark: today's poller and the paced one, side by side on one bucket.

    python scripts/benchmark.py ratelimit            # limit 200, 4 back a second, 1,000 waits at 2 s
    python scripts/benchmark.py ratelimit --docs     # and rewrite the performance page's table and chart

Mimecast meters every API user in one refilling bucket (recorded: 800, one back about every 5 s); this runs
a bucket scaled down for time in a simulator process of its own, 1,000 deferrable waits in one event loop
at a 2 s poll interval, their imports completing evenly over 60 s, twice: with the poller that spends the
bucket to zero and waits out the 429s ("unpaced", the provider before rate-limit budgets: no reserve, no
pacing, kept here only as the baseline) and with the paced one (``rate_limit_reserve`` 0.2). It prints the
429s, the lowest ``X-RateLimit-Remaining`` after the first answer, the status requests per second while
waits were due against what the bucket gave (what was above the reserve at the start plus the refill), and
how long after completing an import was detected, each with its goal. ``--docs`` writes the table, the
figures and a chart of Remaining over time to ``docs/_static/benchmark-ratelimit.*``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import time
from collections.abc import AsyncGenerator, Iterator
from html import escape
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from airflow_provider_mimecast.hooks.rate_budgets import RATE_BUDGETS
from airflow_provider_mimecast.hooks.tokens import TOKEN_CACHE
from airflow_provider_mimecast.testing.simulator import Bucket, MimecastSimulator
from airflow_provider_mimecast.triggers import pace
from airflow_provider_mimecast.triggers.import_status import MimecastImportStatusTrigger

CONN_ID = "bench_bucket"
DOCS_STATIC = Path(__file__).parents[1] / "docs" / "_static"
MODES = ("unpaced poller", "paced poller")
RESERVE = 0.2


# ------------------------------------------------------------------------------ the bucket's process
def _serve(pipe: Connection, bucket: Bucket) -> None:
    """Serve the bucket; record every metered answer's Remaining; answer the parent's commands."""
    with MimecastSimulator(
        rate_limit=bucket.limit, rate_refill=bucket.refill, rate_reset_ms=bucket.reset_ms
    ) as sim:
        answers: list[tuple[float, int, bool]] = []  # (monotonic, Remaining, 429)
        take = sim._rates.take

        def recorded(api_user: str) -> Any:
            rate = take(api_user)
            answers.append((time.monotonic(), rate.remaining, rate.exceeded))
            return rate

        sim._rates.take = recorded  # type: ignore[method-assign]
        pipe.send(sim.airflow_connection("oauth2"))
        while True:
            command, argument = pipe.recv()
            if command == "start":  # a full bucket, and imports completing evenly over `argument` s
                count, spread = argument
                sim.set_rate_limit(bucket)
                answers.clear()
                now = time.monotonic()
                ids = [
                    sim.create_import(pending_seconds=0, processing_seconds=spread * (i + 1) / count)
                    for i in range(count)
                ]
                pipe.send((ids, [now + spread * (i + 1) / count for i in range(count)]))
            elif command == "answers":
                pipe.send(list(answers))
            else:
                return


@contextlib.contextmanager
def _bucket_process(bucket: Bucket) -> Iterator[Connection]:
    context = multiprocessing.get_context("spawn")
    pipe, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, bucket), daemon=True)
    process.start()
    try:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            {**json.loads(pipe.recv()), "extra": {"rate_limit_reserve": RESERVE}}
        )
        yield pipe
    finally:
        pipe.send(("stop", None))
        process.join(10)


# ------------------------------------------------------------------------------ the pollers
@contextlib.contextmanager
def _unpaced() -> Iterator[None]:
    """The poller as it was: every due wait each round, no reserve kept, the bucket spent to its 429s."""
    choose, acquire = pace.Pace.choose, RATE_BUDGETS.acquire

    def everything(self: Any, settings: Any, due: Any, joining: Any, now: float) -> Any:
        return sorted([*due, *joining], key=lambda w: (w.deadline > now, w.failed_at, w.next_due)), 0

    pace.Pace.choose = everything  # type: ignore[method-assign]
    RATE_BUDGETS.acquire = lambda key, reserve: 0.0  # type: ignore[method-assign]
    try:
        yield
    finally:
        pace.Pace.choose = choose  # type: ignore[method-assign]
        RATE_BUDGETS.acquire = acquire  # type: ignore[method-assign]


async def _wait(import_id: str, poll: float, deadline: float) -> float:
    trigger = MimecastImportStatusTrigger([import_id], CONN_ID, poll, time.time() + deadline)
    events = cast(AsyncGenerator[Any, None], trigger.run())
    try:
        event = await anext(events)
    finally:
        await events.aclose()
    if event.payload["status"] != "success":
        raise RuntimeError(f"wait for {import_id} ended {event.payload['status']}: {event.payload}")
    return time.monotonic()


async def _waits(ids: list[str], poll: float, deadline: float) -> list[float]:
    # As Airflow's triggerer starts triggers: one per event-loop iteration.
    tasks = []
    for import_id in ids:
        tasks.append(asyncio.create_task(_wait(import_id, poll, deadline)))
        await asyncio.sleep(0)
    return list(await asyncio.gather(*tasks))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _run(pipe: Connection, mode: str, bucket: Bucket, n: int, poll: float, spread: float) -> dict[str, Any]:
    TOKEN_CACHE.clear()
    RATE_BUDGETS.clear()
    pipe.send(("start", (n, spread)))
    ids, completes_at = pipe.recv()
    started = time.monotonic()
    with _unpaced() if mode == MODES[0] else contextlib.nullcontext():
        detected = asyncio.run(_waits(ids, poll, deadline=spread * 6 + 120))
    pipe.send(("answers", None))
    answers: list[tuple[float, int, bool]] = pipe.recv()
    ended = max(detected)
    late = [d - c for d, c in zip(detected, completes_at, strict=True)]
    reserve = RESERVE * bucket.limit
    refill_rate = bucket.refill / (bucket.reset_ms / 1000)
    due_for = ended - started
    given = (
        bucket.limit - reserve + refill_rate * due_for
    ) / due_for  # what the bucket gave above the reserve
    per_second = len(answers) / due_for
    return {
        "mode": mode,
        "requests": len(answers),
        "rate_limited": sum(limited for *_, limited in answers),
        "lowest_remaining": min((r for _, r, limited in answers[1:] if not limited), default=bucket.limit),
        "requests_per_second": per_second,
        "given_per_second": given,
        "used": per_second / given,
        "detect_p50_s": _percentile(late, 0.5),
        "detect_p99_s": _percentile(late, 0.99),
        "seconds": due_for,
        # Remaining over time, the lowest per half second, for the chart.
        "remaining": _series(answers, started),
    }


def _series(answers: list[tuple[float, int, bool]], started: float, step: float = 0.5) -> list[list[float]]:
    lowest: dict[int, int] = {}
    for at, remaining, _ in answers:
        slot = int((at - started) / step)
        lowest[slot] = min(remaining, lowest.get(slot, remaining))
    return [[slot * step, value] for slot, value in sorted(lowest.items())]


def rate_limit(
    *,
    limit: int = 200,
    refill: int = 4,
    reset_ms: int = 1000,
    n: int = 1000,
    poll: float = 2.0,
    spread: float = 60.0,
) -> dict[str, Any]:
    """Run both pollers on the same bucket; print the table; return the figures (see ``--docs``)."""
    bucket = Bucket(limit, refill, reset_ms).check()
    reserve = RESERVE * limit
    refill_rate = refill / (reset_ms / 1000)
    check_all = math.ceil(n / 10) / refill_rate + poll
    header = (
        f"{'mode':<16}{'requests':>9}{'429s':>7}{'lowest Remaining':>18}{'req/s':>8}{'given/s':>9}{'used':>7}"
        f"{'detect p50':>12}{'detect p99':>12}"
    )
    lines = [
        f"Rate limit: a bucket of {limit}, {refill} back every {reset_ms} ms ({refill_rate:g}/s), reserve "
        f"{RESERVE:g} ({reserve:g}); {n:,} deferrable waits at a {poll:g} s poll interval, imports completing "
        f"over {spread:g} s",
        header,
        "-" * len(header),
    ]
    print(*lines, sep="\n")
    rows = []
    with _bucket_process(bucket) as pipe:
        for mode in MODES:
            row = _run(pipe, mode, bucket, n, poll, spread)
            rows.append(row)
            line = (
                f"{mode:<16}{row['requests']:>9}{row['rate_limited']:>7}{row['lowest_remaining']:>18}"
                f"{row['requests_per_second']:>8.2f}{row['given_per_second']:>9.2f}{row['used']:>7.0%}"
                f"{row['detect_p50_s']:>11.1f}s{row['detect_p99_s']:>11.1f}s"
            )
            lines.append(line)
            print(line)
    goals = (
        f"Goals for the paced poller: 0 429s; lowest Remaining >= {reserve:g} (the reserve); req/s >= 90% of "
        f"given/s (what the bucket gave above the reserve while waits were due: the budget is used, not "
        f"hoarded); detect p99 <= {check_all:.1f} s (every wait checked once at the refill, plus one poll "
        "interval)."
    )
    lines.append(goals)
    print(goals)
    return {
        "bucket": bucket._asdict(),
        "reserve": reserve,
        "waits": n,
        "poll_seconds": poll,
        "spread_seconds": spread,
        "detect_goal_s": check_all,
        "table": lines,
        "rows": rows,
    }


# ------------------------------------------------------------------------------ the chart
STYLES = {MODES[0]: ("#d55e00", "6 4"), MODES[1]: ("#0072b2", "")}


def render(figures: dict[str, Any], width: int = 640, height: int = 360) -> str:
    """Remaining over time for both pollers, with the reserve, as an SVG document."""
    left, right, top, bottom = 60, 24, 48, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    limit = figures["bucket"]["limit"]
    end = max(point[0] for row in figures["rows"] for point in row["remaining"]) or 1.0
    step = 10 ** math.floor(math.log10(end)) if end >= 10 else 1
    step = step * 2 if end / step < 4 else step

    def x_at(seconds: float) -> float:
        return left + seconds / end * plot_w

    def y_at(remaining: float) -> float:
        return top + plot_h - remaining / limit * plot_h

    title = f"X-RateLimit-Remaining over time: {figures['waits']:,} waits, bucket of {limit}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2:.1f}" y="24" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for value in range(0, limit + 1, max(1, limit // 4)):
        y = y_at(value)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    for second in range(0, int(end) + 1, int(step)):
        x = x_at(second)
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle">{second}</text>')
    reserve_y = y_at(figures["reserve"])
    parts += [
        f'<line x1="{left}" y1="{reserve_y:.1f}" x2="{left + plot_w}" y2="{reserve_y:.1f}" stroke="#009e73" '
        'stroke-dasharray="2 3"/>',
        f'<text x="{left + plot_w - 4}" y="{reserve_y - 6:.1f}" text-anchor="end" fill="#009e73">'
        f"reserve ({figures['reserve']:g})</text>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#606060"/>',
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 12}" text-anchor="middle">seconds</text>',
    ]
    for index, row in enumerate(figures["rows"]):
        colour, dash = STYLES[row["mode"]]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        path = " ".join(f"{x_at(t):.1f},{y_at(r):.1f}" for t, r in row["remaining"])
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"{dashes}/>')
        legend_y = top + 18 + index * 18
        parts.append(
            f'<line x1="{left + plot_w - 170}" y1="{legend_y - 4}" x2="{left + plot_w - 144}" '
            f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="2"{dashes}/>'
        )
        parts.append(f'<text x="{left + plot_w - 138}" y="{legend_y}">{escape(row["mode"])}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_docs(figures: dict[str, Any], directory: Path = DOCS_STATIC) -> None:
    """Write the table, the figures and the chart that the performance page includes."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "benchmark-ratelimit.txt").write_text("\n".join(figures["table"]) + "\n", encoding="utf-8")
    (directory / "benchmark-ratelimit.json").write_text(
        json.dumps(figures, indent=1) + "\n", encoding="utf-8"
    )
    (directory / "benchmark-ratelimit.svg").write_text(render(figures), encoding="utf-8")
    print(f"Wrote benchmark-ratelimit.txt, .json and .svg to {directory}")
