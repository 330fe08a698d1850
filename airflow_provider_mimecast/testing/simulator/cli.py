"""The ``mimecast-simulator`` command: serve on loopback and print what a user needs to connect."""

from __future__ import annotations

import argparse
import csv
import io
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .files import read_users
from .http_server import is_loopback
from .mimecast_simulator import MimecastSimulator
from .rate_limits import FAST_BUCKET, RECORDED_BUCKET, Bucket
from .responses import Response

#: The connection IDs the printed ``export`` lines define, per auth type.
CONNECTION_IDS = {"oauth2": "mimecast_default", "hmac": "mimecast_hmac"}


def connection_exports(simulator: MimecastSimulator) -> list[str]:
    """Shell lines that define an Airflow connection to ``simulator`` for each auth type."""
    return [
        f"export AIRFLOW_CONN_{conn_id.upper()}={shlex.quote(simulator.airflow_connection(auth_type))}"
        for auth_type, conn_id in CONNECTION_IDS.items()
    ]


def seed_group_members(simulator: MimecastSimulator, spec: str) -> tuple[str, int]:
    """Seed the members ``--group-members GROUP=N|CSV`` names; returns the group's ID and the count added.

    :param simulator: the simulator to seed.
    :param spec: ``GROUP=N`` or ``GROUP=path.csv``; GROUP is a group's name in the directory, else its ID.
    """
    group, _, source = spec.partition("=")
    group_id = next((g.id for g in simulator.groups() if g.name == group), group)
    if source.isdigit():
        members: list[Any] = [(f"user{n}@example.com", f"User {n}") for n in range(1, int(source) + 1)]
    else:
        body = Path(source).read_bytes()
        rows = read_users(enumerate(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")), start=1))
        if isinstance(rows, Response):
            raise SystemExit(f"mimecast-simulator: {source}: {rows.body.decode()}")
        members = [(row["email"], row.get("name")) for row in rows]
    return group_id, simulator.add_group_members(group_id, members)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until Ctrl-C or SIGTERM.

    :param argv: command-line arguments; ``sys.argv[1:]`` when None.
    """
    parser = argparse.ArgumentParser(
        prog="mimecast-simulator", description="Serve a local Mimecast API simulator on loopback."
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8025, help="port to bind; 0 picks a free one (default 8025)"
    )
    parser.add_argument("--pending-seconds", type=float, default=1.0, help="time an import stays pending")
    parser.add_argument(
        "--processing-seconds", type=float, default=2.0, help="time an import stays processing"
    )
    parser.add_argument("--seed-import", type=int, default=0, metavar="N", help="create N imports at start")
    parser.add_argument(
        "--max-status-ids",
        type=int,
        default=10,
        metavar="N",
        help="most import IDs per get-import-status call, as Mimecast's reference says (default 10; 0: no limit)",
    )
    parser.add_argument(
        "--group-members",
        action="append",
        default=[],
        metavar="GROUP=N|CSV",
        help="seed a group's members: GROUP is a group's name or secure ID; N makes N members "
        "(user1@example.com, ...), a path reads the email and name columns of a CSV (repeatable)",
    )
    bucket = parser.add_argument_group(
        "rate limit", "one refilling bucket per API user, as Mimecast meters it (default: fast, for tests)"
    )
    bucket.add_argument(
        "--recorded-rate-limit",
        action="store_true",
        help=f"meter as recorded Mimecast traffic shows: {RECORDED_BUCKET.limit} requests, "
        f"{RECORDED_BUCKET.refill} added back every {RECORDED_BUCKET.reset_ms} ms (the options below override it)",
    )
    bucket.add_argument(
        "--rate-limit", type=int, metavar="N", help=f"bucket size (default {FAST_BUCKET.limit})"
    )
    bucket.add_argument(
        "--rate-refill",
        type=int,
        metavar="N",
        help=f"requests added back per refill (default {FAST_BUCKET.refill})",
    )
    bucket.add_argument(
        "--rate-reset-ms", type=int, metavar="MS", help=f"ms between refills (default {FAST_BUCKET.reset_ms})"
    )
    args = parser.parse_args(argv)
    base = RECORDED_BUCKET if args.recorded_rate_limit else FAST_BUCKET
    try:
        rate = Bucket(
            *(
                base[i] if given is None else given
                for i, given in enumerate((args.rate_limit, args.rate_refill, args.rate_reset_ms))
            )
        ).check()
    except ValueError as error:
        parser.error(str(error))
    if not is_loopback(args.host):
        parser.error(f"--host {args.host} is not a loopback address; the simulator's credentials are public")

    for spec in args.group_members:
        if "=" not in spec:
            parser.error(f"--group-members {spec!r}: use GROUP=N or GROUP=path.csv")
    simulator = MimecastSimulator(
        args.host,
        args.port,
        pending_seconds=args.pending_seconds,
        processing_seconds=args.processing_seconds,
        max_status_ids=args.max_status_ids or None,
        rate_limit=rate.limit,
        rate_refill=rate.refill,
        rate_reset_ms=rate.reset_ms,
    )

    try:
        simulator.start()
    except OSError as exc:
        print(f"mimecast-simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    def request_stop(signum: int, frame: FrameType | None) -> None:
        # Unwinding like Ctrl-C lets the finally block stop the server cleanly.
        raise KeyboardInterrupt

    # signal.signal only works in the main thread; main() called from elsewhere relies on Ctrl-C alone.
    previous_sigterm = None
    if threading.current_thread() is threading.main_thread():
        previous_sigterm = signal.signal(signal.SIGTERM, request_stop)
    try:
        creds = simulator.credentials
        print(f"Mimecast simulator listening on {simulator.url}", flush=True)
        print(
            f"Rate limit per API user: {rate.limit} requests, {rate.refill} added back every {rate.reset_ms} ms"
        )
        print(f"API 2.0 client ID:       {creds.client_id}")
        print(f"API 2.0 client secret:   {creds.client_secret}")
        print(f"API 1.0 access key:      {creds.access_key}")
        print(f"API 1.0 secret key:      {creds.secret_key}")
        print(f"API 1.0 application ID:  {creds.app_id}")
        print(f"API 1.0 application key: {creds.app_key}")
        for _ in range(args.seed_import):
            print(f"Seeded import: {simulator.create_import()}")
        for spec in args.group_members:
            group_id, added = seed_group_members(simulator, spec)
            print(f"Seeded {added} member(s) of group {group_id}")
        print("Airflow connections (API 2.0 as mimecast_default, API 1.0 as mimecast_hmac), to paste:")
        for line in connection_exports(simulator):
            print(line)
        print("Press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
    return 0
