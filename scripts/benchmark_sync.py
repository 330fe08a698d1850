"""Directory-sync figures (issue 23): planning a big file against a big group, and remove_missing's removals.

Run through ``python scripts/benchmark.py sync`` (``--members``, ``--leavers``). The simulator runs in a
child process, as for the waits, so its threads do not compete with the measured code for the GIL; it is
seeded there and counts what it received. Printed, not asserted:

- planning an N-row file against an N-member group (``MimecastHook.plan_import``: the file checked and read,
  every page of get-group-members, the plan): requests, wall time and peak traced memory, at Mimecast's
  example page size (25) and at the hook's default (500) side by side;
- the members held as ``GroupMember`` records against the page items as dicts (peak memory);
- ``remove_missing`` with L leavers: the step after a completed import (the group read, ``not_in_group``,
  one remove-group-member per leaver): requests and wall time.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any, cast

from benchmark_calls import traced

from airflow_provider_mimecast.group_members import GroupMember
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.operators.group_sync import GroupSync
from airflow_provider_mimecast.testing.simulator import MimecastSimulator
from airflow_provider_mimecast.uploads import load_upload

CONN_ID = "bench_sync"


def _serve(pipe: Connection) -> None:
    """The simulator in this (child) process: ``seed`` a group, ``counts`` (then reset), ``stop``."""
    with MimecastSimulator(rate_limit=10**9, demo_groups=False) as sim:
        pipe.send(sim.airflow_connection("oauth2"))
        while True:
            command, argument = pipe.recv()
            if command == "seed":
                group_id = sim.add_group(f"Bench {time.monotonic()}")
                sim.add_group_members(
                    group_id, [(f"user{n}@example.com", f"User {n}") for n in range(argument)]
                )
                sim.reset_counts()
                pipe.send(group_id)
            elif command == "counts":
                pipe.send(sim.request_counts())
                sim.reset_counts()
            else:
                return


def _requests(counts: dict[str, int]) -> str:
    return ", ".join(f"{path.rsplit('/', 1)[1]} {n}" for path, n in sorted(counts.items()))


class _Recorder:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def sync(members: int = 100_000, leavers: int = 1_000) -> None:
    """Print the figures above for a group of ``members`` and a ``remove_missing`` of ``leavers``."""
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(theirs,), daemon=True)
    server.start()
    try:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = ours.recv()
        ours.send(("seed", members))
        group_id = ours.recv()
        rows = ({"email": f"USER{n}@example.com", "name": f"User {n}"} for n in range(members))
        upload = load_upload(rows)
        print(f"Planning a {members:,}-row file against a {members:,}-member group (plan_import):")
        for page_size in (25, 500):
            hook = MimecastHook(CONN_ID)
            _ = hook.settings  # the connection, outside the timing
            started = time.perf_counter()
            plan = hook.plan_import(upload, group_id=group_id, page_size=page_size)
            elapsed = time.perf_counter() - started
            counts = _requests(_counts(ours))
            _, _, peak = traced(
                lambda: MimecastHook(CONN_ID).plan_import(upload, group_id=group_id, page_size=page_size)  # noqa: B023
            )
            _counts(ours)
            print(
                f"  pageSize {page_size:>3}: {counts}; {elapsed:.2f} s; peak traced memory {peak / 1e6:.0f} MB "
                f"(unchanged {plan.unchanged:,}, add {len(plan.add)}, rename {len(plan.rename)})"
            )
        _, _, dict_peak = traced(
            lambda: [
                {
                    "emailAddress": f"user{n}@example.com",
                    "domain": "example.com",
                    "internal": True,
                    "type": "created_manually",
                    "name": f"User {n}",
                }
                for n in range(members)
            ]
        )
        _, _, record_peak = traced(
            lambda: [
                GroupMember(f"user{n}@example.com", f"User {n}", "example.com", True, "created_manually")
                for n in range(members)
            ]
        )
        print(
            f"  {members:,} members held, strings included: as the answer's dicts {dict_peak / 1e6:.0f} MB, "
            f"as GroupMember records {record_peak / 1e6:.0f} MB"
        )

        ours.send(("seed", members // 10 + leavers))
        small_group = ours.recv()
        stay = members // 10
        staying = load_upload({"email": f"user{n}@example.com", "name": f"User {n}"} for n in range(stay))
        step = GroupSync(
            MimecastHook(CONN_ID),
            group_id=small_group,
            group_name=None,
            upload=staying,
            removes=True,
            remove_missing=True,
            max_removals=leavers,
            log=logging.getLogger("benchmark"),
        )
        ti = _Recorder()
        started = time.perf_counter()
        step.after_import(cast(Any, {"ti": ti}), lambda: None)
        elapsed = time.perf_counter() - started
        print(
            f"remove_missing, {leavers:,} leavers of a {stay + leavers:,}-member group (after the import): "
            f"{_requests(_counts(ours))}; {elapsed:.2f} s ({elapsed / leavers * 1000:.1f} ms a removal); removed "
            f"{ti.pushed['removed']['count']:,}"
        )
    finally:
        ours.send(("stop", None))
        server.join(timeout=10)


def _counts(pipe: Connection) -> dict[str, int]:
    pipe.send(("counts", None))
    counts: dict[str, int] = pipe.recv()
    return counts
