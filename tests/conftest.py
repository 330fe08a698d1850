"""Shared fixtures: an isolated Airflow home, the simulator, and connections that point at it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TypeVar

# Airflow reads its configuration at import time, so the environment is set before any test imports it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="mimecast-tests-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
_EXAMPLE_DAGS = Path(__file__).parents[1] / "example_dags"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_EXAMPLE_DAGS)
# Airflow 3 runs dag.test() only for DAGs in a bundle: the examples, and the DAGs the tests need.
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path)},
        }
        for name, path in (
            ("mimecast_examples", _EXAMPLE_DAGS),
            ("mimecast_test_dags", Path(__file__).parent / "dags"),
            ("mimecast_openlineage_dags", Path(__file__).parent / "dags_openlineage"),
        )
    ]
)
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
#: Where the OpenLineage lane's listener writes its events (file transport, one JSON event per line).
OPENLINEAGE_EVENTS = Path(_AIRFLOW_HOME) / "openlineage-events.jsonl"
try:
    version("apache-airflow-providers-openlineage")
except PackageNotFoundError:
    pass
else:  # the lane that installs the provider (tests marked openlineage): its listener on, writing a file
    os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "file", "log_file_path": str(OPENLINEAGE_EVENTS), "append": True}
    )
os.environ["MIMECAST_EXAMPLE_POLL_SECONDS"] = "0.2"
if version("apache-airflow").startswith("2."):
    # Airflow 2 refuses SQLite with its default LocalExecutor; Airflow 3 has no SequentialExecutor.
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"

# ``airflow db migrate`` (5-10 s, most of it importing Airflow and running migrations in a fresh process)
# runs in the background from here, while pytest imports Airflow and collects; once collected, the run waits
# for it before the first test if a test needs the database (so that it never takes CPU from a timed test),
# and stops it otherwise.
_MIGRATION_LOG = Path(_AIRFLOW_HOME) / "db-migrate.log"
with _MIGRATION_LOG.open("wb") as _log:  # a file, not a pipe, which nobody reads until the fixture
    _MIGRATION = subprocess.Popen(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        stdout=_log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )


import pytest  # noqa: E402

from airflow_provider_mimecast.hooks.rate_budgets import RATE_BUDGETS  # noqa: E402
from airflow_provider_mimecast.hooks.tokens import TOKEN_CACHE  # noqa: E402
from airflow_provider_mimecast.testing.simulator import (  # noqa: E402
    DEFAULT_CREDENTIALS,
    MimecastSimulator,
    airflow_connection,
)

if version("apache-airflow").startswith(("3.0.", "3.1.", "3.2.")):
    # dag.test() on these lines builds a new in-process Execution API (a FastAPI app with every Cadwyn API
    # version, and an event-loop thread) for each task it runs: 1-3 s per task on two busy cores, so a
    # sensor first looked at an import seconds after the task before it had started it. Airflow 3.3 builds
    # it once per process (apache/airflow#65235 put this lru_cache on in_process_api_server); so do we.
    import functools

    from airflow.sdk.execution_time import supervisor

    supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)

if version("apache-airflow").startswith("3.0."):
    # Airflow 3.0's dag.test() leaves structlog unconfigured, and its default prints every level: the
    # in-process supervisor's debug lines (each message a task sends, MaskSecret values included) reached
    # stdout. A worker logs at [logging] logging_level, INFO by default; so do the tests.
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))

CREDENTIALS = DEFAULT_CREDENTIALS
#: Every secret the tests use; none may show up in logs, errors, reprs or XCom.
SECRETS = (CREDENTIALS.client_secret, CREDENTIALS.secret_key, CREDENTIALS.app_key)

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
    """Call ``predicate`` until it returns something truthy and return that, or fail after ``timeout`` s.

    Tests wait on the condition they need instead of sleeping a fixed time, so they neither flake on a
    busy machine nor wait longer than necessary.
    """
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)
    return result


class RecordingTaskInstance:
    """Just enough of a task instance for execute(): it records XCom pushes."""

    def __init__(self) -> None:
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    TOKEN_CACHE.clear()
    RATE_BUDGETS.clear()  # a restarted simulator keeps its port, and so its budget key
    yield
    TOKEN_CACHE.clear()
    RATE_BUDGETS.clear()


@pytest.fixture
def simulator() -> Iterator[MimecastSimulator]:
    with MimecastSimulator(pending_seconds=0.2, processing_seconds=0.2) as sim:
        yield sim


def oauth_connection(url: str, **extra: object) -> str:
    return airflow_connection(url, "oauth2", **extra)


def hmac_connection(url: str, **extra: object) -> str:
    return airflow_connection(url, "hmac", **extra)


def with_secret(url: str, secret: str) -> str:
    """The simulator's API 2.0 connection with the right client ID and the given (wrong) secret."""
    return json.dumps(
        {"conn_type": "mimecast", "host": url, "login": CREDENTIALS.client_id, "password": secret}
    )


@pytest.fixture
def connections(simulator: MimecastSimulator, monkeypatch: pytest.MonkeyPatch) -> MimecastSimulator:
    """``mimecast_default`` (API 2.0) and ``mimecast_hmac`` (API 1.0), both on the simulator."""
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(simulator.url))
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_HMAC", hmac_connection(simulator.url))
    return simulator


def _stop_migration() -> None:
    if _MIGRATION.poll() is None:
        _MIGRATION.kill()
        _MIGRATION.wait()


def pytest_collection_finish(session: pytest.Session) -> None:
    if any("airflow_db" in getattr(item, "fixturenames", ()) for item in session.items):
        _MIGRATION.wait()
    else:
        _stop_migration()


def pytest_unconfigure() -> None:
    _stop_migration()  # a run stopped before its collection finished


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata database, which dag.test() needs."""
    if _MIGRATION.wait() != 0:
        raise subprocess.CalledProcessError(
            _MIGRATION.returncode, _MIGRATION.args, _MIGRATION_LOG.read_text()
        )
