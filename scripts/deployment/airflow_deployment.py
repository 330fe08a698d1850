"""An Airflow 3 deployment of separate processes: scheduler (LocalExecutor), dag-processor, api-server and
triggerers, over one PostgreSQL database, in a throw-away AIRFLOW_HOME."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
from pathlib import Path

from deployment.airflow_api import AirflowApi
from deployment.processes import Process, stop_all

#: Seconds without a heartbeat after which a triggerer's triggers go to another one (Airflow's default is 30),
#: with a heartbeat every TRIGGERER_HEARTBEAT_SECONDS. A starting triggerer on a loaded 2-core machine was
#: seen 15 s late once: below 20 s a live triggerer's triggers could move.
TRIGGERER_HEALTH_SECONDS = 20
TRIGGERER_HEARTBEAT_SECONDS = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class AirflowDeployment:
    """The components' shared configuration, their processes and logs.

    :param venv: the virtualenv with Airflow, the PostgreSQL driver and the provider.
    :param home: an empty AIRFLOW_HOME.
    :param logs: where each component's log (and the task logs) go.
    :param database_url: SQLAlchemy URL of the metadata database.
    :param parallelism: task processes the LocalExecutor runs at once.
    :param extra_env: more environment for every component (the DAGs' settings).
    """

    def __init__(
        self,
        venv: Path,
        home: Path,
        logs: Path,
        database_url: str,
        *,
        parallelism: int,
        extra_env: dict[str, str],
        profile: bool = False,
    ) -> None:
        self.venv = venv
        self.home = home
        self.logs = logs
        self.dags_folder = home / "dags"
        self.dags_folder.mkdir(parents=True)
        self.api_port = free_port()
        self.api = AirflowApi(f"http://127.0.0.1:{self.api_port}")
        self.processes: dict[str, Process] = {}
        self.profile = profile
        self.profilers: list[Process] = []
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self.env = {
            **inherited,
            "PATH": f"{venv / 'bin'}:{inherited.get('PATH', '/usr/bin:/bin')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "1024",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # Only the runs the scenario triggers: no scheduled run of the daily example (nor one at midnight).
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # A Fernet key is 32 random bytes, URL-safe Base64: connections and trigger kwargs are encrypted.
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            # Every process must agree on these, or the api-server refuses the others' calls.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api.base_url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs / "tasks"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_SECONDS),
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": str(TRIGGERER_HEARTBEAT_SECONDS),
            # The DAG files never change during a run: parse them once, not every 30 s on two cores.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            **extra_env,
        }

    def airflow(self, *args: str, log_name: str) -> None:
        """Run one ``airflow`` command to its end; its output goes to ``log_name`` in the logs folder."""
        with (self.logs / log_name).open("ab") as log:
            result = subprocess.run(
                [str(self.venv / "bin" / "airflow"), *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if result.returncode != 0:
            raise SystemExit(
                f"check_deployment: `airflow {' '.join(args)}` failed; see {self.logs / log_name}"
            )

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Process:
        """Start ``airflow <args>`` as the component ``name``, logging to ``<name>.log``."""
        process = Process(
            name,
            [str(self.venv / "bin" / "airflow"), *args],
            env={**self.env, **(env or {})},
            log_path=self.logs / f"{name}.log",
        )
        self.processes[name] = process
        return process

    def start_triggerer(self, name: str) -> Process:
        # Each triggerer serves its triggers' logs on a port of its own.
        process = self.start(
            name, "triggerer", env={"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        )
        if self.profile:
            # Its trigger runner is a subprocess; idle samples keep the timeline, so stalls show as such.
            argv = [str(self.venv / "bin" / "py-spy"), "record", "--pid", str(process.pid), "--subprocesses"]
            argv += ["--idle", "--nonblocking", "--rate", "100", "--format", "speedscope"]
            argv += ["--output", str(self.logs / f"{name}.speedscope.json")]
            self.profilers.append(
                Process(f"py-spy {name}", argv, env=self.env, log_path=self.logs / f"py-spy-{name}.log")
            )
        return process

    def stop(self) -> None:
        """Stop every component, the api-server last (the others report to it while they stop); profilers
        first, which write their recordings on SIGINT."""
        stop_all(self.profilers, grace=60, sig=signal.SIGINT)
        stop_all([p for name, p in self.processes.items() if name != "api-server"])
        stop_all([p for name, p in self.processes.items() if name == "api-server"])
