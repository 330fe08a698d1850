"""Every CI lane installs its committed pins, and they hold a working set (docs/contributing.rst, "Pins")."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# The venv's own copies; the pins of these bound only the isolated build environments (PIP_CONSTRAINT).
SEEDED_BY_VENV = {"pip", "setuptools"}
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s#;]+)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    matches = (PIN.match(line.strip()) for line in path.read_text(encoding="utf-8").splitlines())
    return {_normalize(m[1]): m[2] for m in matches if m}


@pytest.fixture
def fernet_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Fernet key in Airflow's configuration, with Airflow's cached Fernet object rebuilt around it."""
    from airflow.models import crypto
    from cryptography.fernet import Fernet

    def forget() -> None:
        if hasattr(crypto.get_fernet, "cache_clear"):  # Airflow 3
            crypto.get_fernet.cache_clear()
        else:  # Airflow 2: a module global
            monkeypatch.setattr(crypto, "_fernet", None)

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", key)
    forget()
    yield key
    forget()


def test_a_connection_password_is_encrypted_and_read_back(fernet_key: str) -> None:
    # What cryptography 51 breaks on Airflow 2.11.2 (docs/troubleshooting.rst, "Installing on Airflow 2.11"):
    # Connection.set_password raises AttributeError ('MultiFernet' object has no attribute 'is_encrypted').
    from airflow.models.connection import Connection

    connection = Connection(conn_id="mimecast_pins", conn_type="mimecast", password="client-secret-value")

    assert connection.is_encrypted
    assert connection._password != "client-secret-value"
    assert connection.password == "client-secret-value"


def test_the_lane_installed_exactly_its_pins() -> None:
    constraints = os.environ.get("MIMECAST_LANE_CONSTRAINTS")
    if not constraints:
        pytest.skip("not a CI lane: .ci/run sets MIMECAST_LANE_CONSTRAINTS to the lane's constraints file")
    pinned = _pins(Path(constraints))
    assert "apache-airflow" in pinned, f"{constraints} pins no Airflow"
    differ = {}
    for name, wanted in pinned.items():
        if name in SEEDED_BY_VENV:
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # pinned for another extra or platform; constraints only bound what is installed
        if installed != wanted:
            differ[name] = (wanted, installed)
    assert not differ, f"installed versions differ from {constraints} (pinned, installed): {differ}"


def test_the_lane_installed_every_requirement_it_names() -> None:
    # A lane whose extra package is missing would skip the tests it exists for, and still pass.
    constraints = os.environ.get("MIMECAST_LANE_CONSTRAINTS")
    if not constraints:
        pytest.skip("not a CI lane: .ci/run sets MIMECAST_LANE_CONSTRAINTS to the lane's constraints file")
    lane = ROOT / "ci" / "lanes" / f"{Path(constraints).stem}.in"
    names = [
        _normalize(m[1])
        for m in (re.match(r"^([A-Za-z0-9._-]+)", line.strip()) for line in lane.read_text().splitlines())
        if m
    ]
    assert names, f"{lane} names no requirement"
    missing = []
    for name in names:
        try:
            version(name)
        except PackageNotFoundError:
            missing.append(name)
    assert not missing, f"{lane} names {missing}, which this lane did not install"


@pytest.mark.parametrize("lane", sorted(p.stem for p in (ROOT / "ci" / "lanes").glob("*.in")))
def test_each_lane_has_pins_that_honour_its_requirements(lane: str) -> None:
    constraints = ROOT / "ci" / "constraints" / f"{lane}.txt"
    assert constraints.exists(), f"no pins for ci/lanes/{lane}.in: run python3 ci/update_pins.py {lane}"
    pinned = _pins(constraints)
    stale = {
        name: (wanted, pinned.get(name))
        for name, wanted in _pins(ROOT / "ci" / "lanes" / f"{lane}.in").items()
        if pinned.get(name) != wanted
    }
    assert not stale, (
        f"ci/constraints/{lane}.txt is older than ci/lanes/{lane}.in: run ci/update_pins.py {lane}"
    )
    assert "resolved for Python 3.11" in constraints.read_text(encoding="utf-8"), "made by ci/update_pins.py"


def test_every_airflow_lane_runs_in_ci() -> None:
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lanes = sorted(p.stem for p in (ROOT / "ci" / "lanes").glob("airflow-*.in"))
    assert lanes, "no lanes found"
    missing = [lane for lane in lanes if f"ci/constraints/{lane}.txt" not in run and f" {lane} --" not in run]
    assert not missing, f".ci/run does not run the lanes {missing}"


def test_the_2_11_lane_keeps_cryptography_below_51() -> None:
    # Airflow 2.11.2 does not cap it; a pin update must not bring 51 back (ci/lanes/airflow-2.11.in).
    pinned = _pins(ROOT / "ci" / "constraints" / "airflow-2.11.txt")["cryptography"]
    assert int(pinned.split(".")[0]) < 51, pinned
    if version("apache-airflow").startswith("2."):
        assert int(version("cryptography").split(".")[0]) < 51
