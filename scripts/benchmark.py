"""Throughput and memory figures for the hook against the local simulator.

Prints numbers rather than asserting them: the machines that run this are shared and noisy.
    python scripts/benchmark.py [--calls 300]

Figures: status calls per second (API 2.0 and 1.0, sync), the same calls made concurrently through the
async twin, IDs per status request, the peak memory of turning 100,000 rows into an upload, and that of
loading a generated CSV file of --upload-mb MB (default 100) for upload.
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


def upload_file_memory(megabytes: int = 100) -> None:
    """Print the peak memory of loading a generated CSV file of about ``megabytes`` MB for upload.

    Self-contained: it writes the file to a temporary directory, measures ``load_upload(path)`` under
    tracemalloc, and removes the file. The target is a peak within about twice the file's size.
    """
    row = b"user%08d@example.com,User Name %08d,Some Department,+44 20 7946 0000\n"
    rows_per_block = 20_000
    block_size = len(row % (0, 0)) * rows_per_block
    with tempfile.TemporaryDirectory(prefix="mimecast-bench-upload-") as directory:
        path = os.path.join(directory, "users.csv")
        with open(path, "wb") as out:
            out.write(b"emailAddress,name,department,phone\n")
            for start in range(0, megabytes * 1_000_000 // block_size * rows_per_block, rows_per_block):
                out.write(b"".join(row % (i, i) for i in range(start, start + rows_per_block)))
        size = os.path.getsize(path)
        tracemalloc.start()
        started = time.perf_counter()
        upload = load_upload(path)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(upload.content) == size
        del upload
    print(
        f"{size / 1e6:.0f} MB CSV file -> upload: {elapsed:.2f} s, peak memory {peak / 1e6:.1f} MB "
        f"({peak / size:.2f} x the file size)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="status calls per measurement")
    parser.add_argument("--upload-mb", type=int, default=100, help="size of the generated CSV file, MB")
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
    upload_file_memory(args.upload_mb)


if __name__ == "__main__":
    main()
