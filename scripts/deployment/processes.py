"""Long-running child processes, each in a session of its own, stopped with everything they started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def session_members(session_id: int) -> list[int]:
    """Every live process whose session is ``session_id`` (``/proc``), the session leader included.

    Airflow's task supervisors move task processes into process groups of their own, but never out of
    the session, so a session is what holds everything a component started.
    """
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # Fields after the command name (which may hold spaces and parentheses): state ppid pgrp session.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == session_id and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class Process:
    """One component, started in a new session with its output in ``log_path``.

    :param name: shown in messages, e.g. ``triggerer-1``.
    :param argv: the command.
    :param env: its whole environment.
    :param log_path: where its stdout and stderr go.
    :param user: run as this user (the PostgreSQL server when the script runs as root).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user,
                cwd=cwd,
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_session(self, sig: int) -> None:
        """Send ``sig`` to the whole session: the component and every process it started."""
        for pid in session_members(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self, *, grace: float = 15.0, sig: int = signal.SIGTERM) -> None:
        """End the session: ``sig`` first, SIGKILL for whatever is left after ``grace`` seconds."""
        stop_all([self], grace=grace, sig=sig)

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def stop_all(processes: Sequence[Process], *, grace: float = 15.0, sig: int = signal.SIGTERM) -> None:
    """Stop several sessions at once: ``sig`` to all, then SIGKILL to whatever is left after ``grace`` s."""
    for process in processes:
        process.kill_session(sig)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for process in processes:
            process.popen.poll()  # reap a leader, so that it stops counting as a member
        if not any(session_members(process.pid) for process in processes):
            break
        time.sleep(0.1)
    for process in processes:
        process.kill_session(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=10)
