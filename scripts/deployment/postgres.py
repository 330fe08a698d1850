"""A throw-away PostgreSQL cluster from Debian's ``postgresql`` package: a temp dir, loopback, a free port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from deployment.processes import Process

#: The cluster's superuser, who owns Airflow's database; trust authentication on loopback only.
DB_USER = "airflow"
DB_NAME = "airflow"
#: initdb refuses to run as root; as root the cluster runs as this system user (created by the package).
SERVER_USER = "postgres"


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: from PATH, else Debian's versioned directories."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    # Debian keeps the server's binaries off PATH, in /usr/lib/postgresql/<major>/bin.
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def install_server() -> Path:
    """Install Debian's ``postgresql`` package (as root) when no ``initdb`` is found; return the bindir."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0:
        raise SystemExit(
            "check_deployment: PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql) and "
            "this is not root: run `apt-get install -y postgresql` first, or run this script as root"
        )
    print("Installing PostgreSQL (apt-get install -y postgresql) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("check_deployment: apt-get installed postgresql, yet no initdb was found")
    return bindir


def server_user() -> str | None:
    """Whom to run the server as: ``postgres`` when this is root (created if missing), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
        )
    return SERVER_USER


class Cluster:
    """A cluster in ``workdir`` (data and socket), listening on 127.0.0.1:``port``, run as a child process.

    :param bindir: where ``initdb``, ``postgres`` and ``psql`` are.
    :param workdir: an empty directory the cluster may own.
    :param port: a free TCP port.
    :param log_path: the server's log.
    """

    def __init__(self, bindir: Path, workdir: Path, port: int, log_path: Path) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.port = port
        self.log_path = log_path
        self.user = server_user()
        self.process: Process | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of Airflow's database (psycopg2 driver)."""
        return f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    def start(self) -> None:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
        data = self.workdir / "data"
        subprocess.run(
            [self.bindir / "initdb", "-D", data, "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            user=self.user,
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
        )
        # Durability is worthless for a throw-away cluster, and fsyncs are slow on a shared machine.
        settings = ["fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=300"]
        argv: list[str | os.PathLike[str]] = [
            self.bindir / "postgres",
            "-D",
            data,
            "-k",
            self.workdir,
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
        ]
        for setting in settings:
            argv += ["-c", setting]
        self.process = Process(
            "postgres",
            [str(a) for a in argv],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
            log_path=self.log_path,
            user=self.user,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run(
                [self.bindir / "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False
            )
            if ready.returncode == 0:
                break
            if not self.process.alive() or time.monotonic() > deadline:
                raise SystemExit(f"check_deployment: PostgreSQL did not start:\n{self.process.tail()}")
            time.sleep(0.2)
        self.query(f"CREATE DATABASE {DB_NAME}", database="postgres")

    def query(self, sql: str, *, database: str = DB_NAME) -> list[list[str]]:
        """Run ``sql`` with psql; the rows as lists of text (NULL as the empty string)."""
        result = subprocess.run(
            [
                self.bindir / "psql",
                "-X",
                "-q",
                "-At",
                "-F",
                "\x1f",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                DB_USER,
                "-d",
                database,
                "-c",
                sql,
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed on {sql!r}: {result.stderr.strip()}")
        return [line.split("\x1f") for line in result.stdout.splitlines()]

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's fast shutdown: clients are disconnected, no wait for them.
            self.process.stop(grace=20, sig=signal.SIGINT)
            self.process = None
