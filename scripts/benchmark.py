"""Throughput and memory figures for the hook against the local simulator.

Prints numbers rather than asserting them: the machines that run this are shared and noisy.
    python scripts/benchmark.py [--calls 300]

Figures: status calls per second (API 2.0 and 1.0, sync), the same calls made concurrently through the
async twin, IDs per status request, and the peak memory of turning 100,000 rows into an upload.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import tracemalloc

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="mimecast-bench-airflow-"))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.testing.simulator import MimecastSimulator
from airflow_provider_mimecast.uploads import load_upload


def sync_rate(conn_id: str, import_id: str, calls: int) -> float:
    hook = MimecastHook(conn_id)
    hook.get_import_status(import_id)  # token and connection settings outside the timing
    started = time.perf_counter()
    for _ in range(calls):
        hook.get_import_status(import_id)
    return calls / (time.perf_counter() - started)


async def async_rate(conn_id: str, import_id: str, calls: int, concurrency: int) -> float:
    hook = MimecastHook(conn_id)
    await hook.aget_import_status(import_id)
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore:
            await hook.aget_import_status(import_id)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return calls / (time.perf_counter() - started)


def batch_seconds(conn_id: str, ids: list[str]) -> float:
    hook = MimecastHook(conn_id)
    hook.get_import_status(ids[:1])
    started = time.perf_counter()
    hook.get_import_status(ids)
    return time.perf_counter() - started


def upload_peak(rows: int) -> tuple[float, int]:
    data = ({"emailAddress": f"user{i}@example.com", "name": f"User {i}"} for i in range(rows))
    tracemalloc.start()
    started = time.perf_counter()
    upload = load_upload(data)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  upload body: {len(upload.content) / 1e6:.1f} MB")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="status calls per measurement")
    args = parser.parse_args()
    with MimecastSimulator(rate_limit=10**9) as sim:
        os.environ["AIRFLOW_CONN_BENCH_OAUTH"] = sim.airflow_connection("oauth2")
        os.environ["AIRFLOW_CONN_BENCH_HMAC"] = sim.airflow_connection("hmac")
        import_id = sim.create_import()
        print(f"get_import_status against the simulator, {args.calls} calls each:")
        for conn_id, label in (("bench_oauth", "API 2.0 bearer"), ("bench_hmac", "API 1.0 HMAC")):
            print(f"  {label:15} sync : {sync_rate(conn_id, import_id, args.calls):7.0f} calls/s")
            rate = asyncio.run(async_rate(conn_id, import_id, args.calls, concurrency=10))
            print(f"  {label:15} async: {rate:7.0f} calls/s (10 in flight)")
        ids = [sim.create_import() for _ in range(500)]
        print(f"one request for 500 IDs: {batch_seconds('bench_oauth', ids) * 1000:.0f} ms")
    elapsed, peak = upload_peak(100_000)
    print(f"100,000 rows -> CSV upload: {elapsed:.2f} s, peak memory {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
