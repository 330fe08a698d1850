"""Call and upload figures: status calls per second (sync, async, batched) and checking a CSV upload.

Run through ``python scripts/benchmark.py calls`` (``--calls``) and ``python scripts/benchmark.py upload``
(``--rows``, ``--upload-mb``). Printed, not asserted: the machines that run this are shared and noisy.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.testing.simulator import MimecastSimulator
from airflow_provider_mimecast.uploads import load_upload


def calls(count: int) -> None:
    with MimecastSimulator(rate_limit=10**9) as sim:
        os.environ["AIRFLOW_CONN_BENCH_CALLS"] = sim.airflow_connection("oauth2")
        import_id = sim.create_import()
        hook = MimecastHook("bench_calls")
        hook.get_import_status(import_id)  # token and settings outside the timing
        started = time.perf_counter()
        for _ in range(count):
            hook.get_import_status(import_id)
        print(
            f"sync get_import_status, pooled client: {count / (time.perf_counter() - started):7.0f} calls/s"
        )

        async def concurrently() -> float:
            semaphore = asyncio.Semaphore(10)
            async with hook.async_session():

                async def one() -> None:
                    async with semaphore:
                        await hook.aget_import_status(import_id)

                started = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(count)))
                return count / (time.perf_counter() - started)

        print(f"async get_import_status, 10 in flight: {asyncio.run(concurrently()):7.0f} calls/s")
        ids = [sim.create_import() for _ in range(500)]
        started = time.perf_counter()
        hook.get_import_status(ids)
        print(f"500 IDs in 50 requests of 10: {(time.perf_counter() - started) * 1000:.0f} ms")


def traced(function: Callable[[], Any]) -> tuple[Any, float, int]:
    """Call ``function``; return its result, the seconds it took and its peak traced memory in bytes."""
    tracemalloc.start()
    started = time.perf_counter()
    result = function()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, elapsed, peak


def upload(rows: int) -> None:
    """Print the time (without tracemalloc, which slows every allocation) and the peak memory of writing
    ``rows`` row dicts as a CSV upload and checking every row."""

    def data() -> Any:
        return ({"email": f"user{i}@example.com", "name": f"User {i}"} for i in range(rows))

    started = time.perf_counter()
    load_upload(data())
    elapsed = time.perf_counter() - started
    body, _, peak = traced(lambda: load_upload(data()))
    print(
        f"{rows:,} rows -> CSV upload of {len(body.content) / 1e6:.1f} MB: {elapsed:.2f} s, "
        f"peak memory {peak / 1e6:.1f} MB"
    )


def upload_file_memory(megabytes: int = 100) -> None:
    """Print the time and peak memory of checking a generated CSV file of about ``megabytes`` MB for upload.

    Self-contained: it writes the file to a temporary directory, measures ``load_upload(path)`` under
    tracemalloc (every row is parsed and its address checked), and removes the file. Then the same with one
    row in 100 invalid and ``invalid_rows="drop"``, which builds the bytes sent without them. The targets:
    a peak near the file's size (the bytes read, one line decoded at a time), and near twice that when
    rows are dropped (the bytes read and the bytes sent). Time is printed without tracemalloc, which slows
    every allocation.
    """
    row = b"user%08d@example.com,User Name %08d,Some Department,+44 20 7946 0000\n"
    bad = b"user%08d at example.com,User Name %08d,Some Department,+44 20 7946 0000\n"
    rows_per_block = 20_000
    block_size = len(row % (0, 0)) * rows_per_block
    rows = megabytes * 1_000_000 // block_size * rows_per_block
    with tempfile.TemporaryDirectory(prefix="mimecast-bench-upload-") as directory:
        for invalid_rows, every in (("fail", 0), ("drop", 100)):
            path = os.path.join(directory, "users.csv")
            with open(path, "wb") as out:
                out.write(b"email,name,department,phone\n")
                for start in range(0, rows, rows_per_block):
                    out.write(
                        b"".join(
                            (bad if every and i % every == 0 else row) % (i, i)
                            for i in range(start, start + rows_per_block)
                        )
                    )
            size = os.path.getsize(path)
            started = time.perf_counter()
            upload = load_upload(path, invalid_rows=invalid_rows)
            elapsed = time.perf_counter() - started
            del upload
            upload, _, peak = traced(lambda: load_upload(path, invalid_rows=invalid_rows))  # noqa: B023
            dropped = f", {upload.dropped:,} rows dropped" if upload.dropped else ""
            del upload
            print(
                f"{size / 1e6:.0f} MB CSV file, {rows:,} rows, invalid_rows={invalid_rows!r}{dropped} -> "
                f"upload: {elapsed:.2f} s ({rows / elapsed / 1e6:.2f} M rows/s), peak memory "
                f"{peak / 1e6:.1f} MB ({peak / size:.2f} x the file size)"
            )
