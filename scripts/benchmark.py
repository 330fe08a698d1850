"""Figures for the hook and the deferrable wait against the local simulator.

Prints numbers rather than asserting them: the machines that run this are shared and noisy.

    python scripts/benchmark.py                 # everything
    python scripts/benchmark.py waits --n 1,10,100,1000 --poll 2 --complete-after 10
    python scripts/benchmark.py waits --docs    # and rewrite the performance page's table, data and chart
    python scripts/benchmark.py calls           # sync/async status calls per second, one batched request
    python scripts/benchmark.py upload          # time and peak memory of checking a CSV upload, every row
    python scripts/benchmark.py sync            # planning against a 100,000-member group; 1,000 removals
    python scripts/benchmark.py ratelimit       # today's poller and the paced one on one rate-limit bucket

``waits`` runs N deferrable waits in one asyncio event loop, as Airflow's triggerer runs them, with an
empty token cache (a triggerer that has just started), twice: through the shared poller that
``MimecastImportStatusTrigger`` uses, and with per-wait polling (one request per wait per interval, a new
client per call: the provider before the shared poller, kept here only as the baseline). The simulator
runs in a separate process, so its threads do not compete with the measured event loop for the GIL, and
it counts what it received. ``--docs`` writes the table (``benchmark-waits.txt``), the figures
(``benchmark-waits.json``) and the chart drawn from them (``benchmark-waits.svg``, by
``scripts/benchmark_chart.py``) into ``docs/_static/``, which the performance page includes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import AsyncGenerator, Callable, Coroutine
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="mimecast-bench-airflow-"))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

import psutil
from benchmark_calls import calls, upload, upload_file_memory
from benchmark_chart import write_chart
from benchmark_sync import sync

from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.hooks.tokens import TOKEN_CACHE
from airflow_provider_mimecast.testing.simulator import GET_IMPORT_STATUS_PATH, TOKEN_PATH, MimecastSimulator
from airflow_provider_mimecast.triggers.import_status import MimecastImportStatusTrigger

CONN_ID = "bench_oauth"
DOCS_STATIC = Path(__file__).parents[1] / "docs" / "_static"


# ------------------------------------------------------------------------------ simulator process
def _serve(pipe: Connection) -> None:
    """Run the simulator in this (child) process and answer the benchmark's requests over ``pipe``."""
    with MimecastSimulator(rate_limit=10**9) as sim:
        pipe.send(sim.airflow_connection("oauth2"))
        while True:
            command, argument = pipe.recv()
            if command == "create":
                count, after = argument
                ids = [
                    sim.create_import(pending_seconds=after / 2, processing_seconds=after / 2)
                    for _ in range(count)
                ]
                pipe.send((ids, time.monotonic() + after))  # CLOCK_MONOTONIC is shared by processes
            elif command == "counts":
                counts = sim.request_counts()
                pipe.send(
                    (
                        counts.get(TOKEN_PATH, 0),
                        counts.get(GET_IMPORT_STATUS_PATH, 0),
                        sum(sim.status_request_sizes()),
                        sim.connections_accepted,
                    )
                )
                sim.reset_counts()  # the next measurement counts from zero
            else:
                return


class SimulatorProcess:
    def __enter__(self) -> SimulatorProcess:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = self._pipe.recv()
        return self

    def create(self, count: int, complete_after: float) -> tuple[list[str], float]:
        self._pipe.send(("create", (count, complete_after)))
        return self._pipe.recv()

    def counts(self) -> tuple[int, int, int, int]:
        self._pipe.send(("counts", None))
        return self._pipe.recv()

    def __exit__(self, *exc: object) -> None:
        self._pipe.send(("stop", None))
        self._process.join(10)


# ------------------------------------------------------------------------------ waits
async def _shared_wait(import_id: str, poll: float, deadline: float) -> str:
    trigger = MimecastImportStatusTrigger([import_id], CONN_ID, poll, time.time() + deadline)
    events = cast(AsyncGenerator[Any, None], trigger.run())
    try:
        event = await anext(events)
    finally:
        await events.aclose()
    return event.payload["status"]


async def _per_wait_polling(import_id: str, poll: float, deadline: float) -> str:
    hook = MimecastHook(CONN_ID)
    end = time.monotonic() + deadline
    while True:
        [status] = await hook.aget_import_status(import_id)
        if status.state.is_terminal:
            return "success"
        if time.monotonic() >= end:
            return "timeout"
        await asyncio.sleep(poll)


async def _loop_monitor(stop: asyncio.Event, blocks: list[float], tick: float = 0.01) -> None:
    """Record how late the loop wakes a 10 ms sleeper: the longest stall any other trigger would see."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(tick)
        blocks.append(time.perf_counter() - started - tick)


async def _run_waits(
    wait: Callable[[str, float, float], Coroutine[Any, Any, str]],
    ids: list[str],
    poll: float,
    deadline: float,
) -> dict[str, Any]:
    stop, detected = asyncio.Event(), [0.0] * len(ids)
    blocks: list[float] = []
    process = psutil.Process()
    rss_before = process.memory_info().rss
    peak_rss = rss_before

    async def timed(index: int, import_id: str) -> str:
        result = await wait(import_id, poll, deadline)
        detected[index] = time.monotonic()
        return result

    async def sample_rss() -> None:
        nonlocal peak_rss
        while not stop.is_set():
            peak_rss = max(peak_rss, process.memory_info().rss)
            await asyncio.sleep(0.25)

    monitor = asyncio.create_task(_loop_monitor(stop, blocks))
    sampler = asyncio.create_task(sample_rss())
    cpu = time.process_time()
    results = await asyncio.gather(*(timed(i, import_id) for i, import_id in enumerate(ids)))
    cpu = time.process_time() - cpu
    stop.set()
    await asyncio.gather(monitor, sampler)
    return {
        "results": results,
        "detected": detected,
        "longest_block": max(blocks, default=0.0),
        "rss_per_wait": (peak_rss - rss_before) / len(ids),
        "cpu": cpu,
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def waits(sizes: list[int], poll: float, complete_after: float, baseline_max: int) -> dict[str, Any]:
    """Run the waits, print the table, and return the figures (see ``--docs``)."""
    header = (
        f"{'mode':<18}{'N':>6}{'token req':>11}{'status req':>12}{'req/round':>11}{'sockets':>9}"
        f"{'detect p50':>12}{'detect p99':>12}{'loop block':>12}{'mem/wait':>10}{'CPU/poll':>11}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Deferrable waits in one event loop: poll {poll:g} s, imports complete after {complete_after:g} s "
        f"(load average {load:.1f} on {os.cpu_count()} CPUs at the start)",
        header,
        "-" * len(header),
    ]
    for line in lines:
        print(line)
    rows: list[dict[str, Any]] = []
    deadline = complete_after * 4 + 30
    with SimulatorProcess() as sim:
        for n in sizes:
            modes: list[tuple[str, Callable[[str, float, float], Coroutine[Any, Any, str]]]] = [
                ("shared poller", _shared_wait)
            ]
            if n <= baseline_max:
                modes.append(("per-wait polling", _per_wait_polling))
            for label, wait in modes:
                TOKEN_CACHE.clear()  # a triggerer that has just (re)started
                sim.counts()  # zero the simulator's counters
                ids, completes_at = sim.create(n, complete_after)
                run = asyncio.run(_run_waits(wait, ids, poll, deadline))
                tokens, statuses, ids_asked, sockets = sim.counts()
                late = [max(t - completes_at, 0.0) for t in run["detected"]]
                # Every round asks about every wait once, so the rounds are the IDs asked per wait.
                rounds = ids_asked / n
                row = {
                    "mode": label,
                    "n": n,
                    "token_requests": tokens,
                    "status_requests": statuses,
                    "rounds": rounds,
                    "requests_per_round": statuses / rounds if rounds else 0.0,
                    "sockets": sockets,
                    "detect_p50_s": _percentile(late, 0.5),
                    "detect_p99_s": _percentile(late, 0.99),
                    "longest_block_s": run["longest_block"],
                    "rss_per_wait_bytes": run["rss_per_wait"],
                    "cpu_per_request_s": run["cpu"] / max(statuses, 1),
                    "not_successful": sum(r != "success" for r in run["results"]),
                }
                rows.append(row)
                line = (
                    f"{label:<18}{n:>6}{tokens:>11}{statuses:>12}{row['requests_per_round']:>11.1f}{sockets:>9}"
                    f"{row['detect_p50_s']:>11.2f}s{row['detect_p99_s']:>11.2f}s"
                    f"{row['longest_block_s'] * 1000:>10.0f}ms{row['rss_per_wait_bytes'] / 1024:>8.1f}KB"
                    f"{row['cpu_per_request_s'] * 1000:>9.2f}ms"
                    + (f"  ({row['not_successful']} not successful)" if row["not_successful"] else "")
                )
                lines.append(line)
                print(line)
    footnote = (
        "token/status req, sockets: what the simulator received. req/round: status requests per poll round. "
        "detect: from an import's completion to its event. loop block: the longest stall of the event loop. "
        "mem/wait: peak RSS growth / N. CPU/poll: process CPU time / status requests."
    )
    print(footnote)
    return {"poll_seconds": poll, "complete_after_seconds": complete_after, "table": lines, "rows": rows}


def write_docs(figures: dict[str, Any], directory: Path = DOCS_STATIC) -> None:
    """Write the table, the figures and the chart that the performance page includes."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "benchmark-waits.txt").write_text("\n".join(figures["table"]) + "\n", encoding="utf-8")
    (directory / "benchmark-waits.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    write_chart(figures, directory / "benchmark-waits.svg")
    print(f"Wrote benchmark-waits.txt, .json and .svg to {directory}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what", nargs="?", choices=["waits", "calls", "upload", "sync", "ratelimit", "all"], default="all"
    )
    parser.add_argument("--n", default="1,10,100,1000", help="wait counts, comma-separated")
    parser.add_argument("--poll", type=float, default=2.0, help="poll interval of each wait, seconds")
    parser.add_argument("--complete-after", type=float, default=10.0, help="seconds until imports complete")
    parser.add_argument(
        "--baseline-max", type=int, default=1000, help="largest N also run with per-wait polling"
    )
    parser.add_argument("--calls", type=int, default=300, help="status calls per throughput figure")
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the upload figure")
    parser.add_argument(
        "--upload-mb", type=int, default=100, help="size of the CSV file in the upload figure, MB"
    )
    parser.add_argument("--members", type=int, default=100_000, help="group size in the sync figures")
    parser.add_argument("--leavers", type=int, default=1_000, help="removals in the remove_missing figure")
    parser.add_argument(
        "--docs",
        action="store_true",
        help="write the waits (and ratelimit) tables, figures and charts into docs/_static/ for the "
        "performance page",
    )
    args = parser.parse_args()
    if args.what in ("waits", "all"):
        figures = waits(
            [int(n) for n in args.n.split(",")], args.poll, args.complete_after, args.baseline_max
        )
        if args.docs:
            write_docs(figures)
    if args.what in ("calls", "all"):
        calls(args.calls)
    if args.what in ("upload", "all"):
        upload(args.rows)
        upload_file_memory(args.upload_mb)
    if args.what in ("sync", "all"):
        sync(args.members, args.leavers)
    if args.what in ("ratelimit", "all"):
        import benchmark_rate_limit  # its own section, scripts/benchmark_rate_limit.py

        figures = benchmark_rate_limit.rate_limit()
        if args.docs:
            benchmark_rate_limit.write_docs(figures)


if __name__ == "__main__":
    main()
