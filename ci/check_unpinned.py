"""What the newest releases would break: each supported Airflow line installed unpinned, and the suite run.

    python3 ci/check_unpinned.py                  # every Airflow lane of ci/lanes/ (20 to 40 minutes)
    python3 ci/check_unpinned.py airflow-2.11     # one line

For maintainers, before ``ci/update_pins.py``: CI installs the committed pins and never runs this. Each line
gets a fresh virtualenv (``.venv-unpinned/<lane>``) with the line's newest release (``apache-airflow==3.2.*``
for a lane pinned at 3.2.2) and this checkout's test extra, resolved by pip as a user without constraints
would get them today, none of the lane's other pins included. It prints, per line, the suite's result, the
errors that failed tests (each with how many tests it failed) and the installed versions that differ from the
lane's pins: what broke, and on what. It exits 0 whatever the suite did.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LANES = ROOT / "ci" / "lanes"
CONSTRAINTS = ROOT / "ci" / "constraints"
VENVS = ROOT / ".venv-unpinned"
# The venv's own copies; their pins bound only pip's isolated build environments.
SEEDED_BY_VENV = {"pip", "setuptools"}
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s#;]+)")
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)(?: - (.*))?$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            found[normalize(match[1])] = match[2]
    return found


def airflow_line(lane: str) -> str:
    release = pins(LANES / f"{lane}.in")["apache-airflow"]
    major, minor = release.split(".")[:2]
    return f"apache-airflow=={major}.{minor}.*"


def run_line(lane: str, pytest_args: list[str]) -> dict[str, object]:
    venv = VENVS / lane
    requirement = airflow_line(lane)
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    # Deliberately without constraints: this is what a user gets from the index today.
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", requirement, "-e", f"{ROOT}[test]"],
        capture_output=True,
        text=True,
    )
    if install.returncode:
        return {"lane": lane, "requirement": requirement, "install_error": install.stderr.strip()[-2000:]}
    freeze = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout
    installed = pins_from_text(freeze)
    pinned = pins(CONSTRAINTS / f"{lane}.txt")
    differ = {
        name: (pinned[name], installed[name])
        for name in sorted(pinned.keys() & installed.keys())
        if pinned[name] != installed[name] and name not in SEEDED_BY_VENV
    }
    tests = subprocess.run(
        [str(venv / "bin" / "pytest"), "-q", "-rfE", "-p", "no:cacheprovider", *pytest_args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "1000"},  # pytest cuts each summary line to the terminal's width
    )
    lines = tests.stdout.splitlines()
    errors: collections.Counter[str] = collections.Counter()
    for line in lines:
        match = FAILED.match(line)
        if match:
            errors[(match[2] or "(no message)")[:160]] += 1
    summary = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)), "")
    return {
        "lane": lane,
        "requirement": requirement,
        "airflow": installed.get("apache-airflow", "?"),
        "summary": summary.strip("= ") or f"pytest exited {tests.returncode} without a summary",
        "failed": tests.returncode != 0,
        "errors": errors.most_common(8),
        "differ": differ,
        "seconds": round(time.monotonic() - began),
    }


def pins_from_text(text: str) -> dict[str, str]:
    return {normalize(m[1]): m[2] for m in (PIN.match(line) for line in text.splitlines()) if m}


def report(result: dict[str, object]) -> None:
    lane, requirement = result["lane"], result["requirement"]
    if "install_error" in result:
        print(f"## {lane} ({requirement}): DOES NOT INSTALL\n{result['install_error']}\n")
        return
    verdict = "BREAKS" if result["failed"] else "passes"
    print(
        f"## {lane}: {requirement} -> apache-airflow {result['airflow']}: {verdict} ({result['summary']}, "
        f"{result['seconds']} s)"
    )
    for message, count in result["errors"]:  # type: ignore[attr-defined]
        print(f"   {count:4d} x {message}")
    differ = result["differ"]
    assert isinstance(differ, dict)
    print(
        f"   {len(differ)} installed versions differ from ci/constraints/{lane}.txt" + (":" if differ else "")
    )
    for name, (pinned, installed) in differ.items():
        print(f"     {name} {pinned} -> {installed}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # One per Airflow line (airflow-2.11, airflow-3.3, ...), not the lanes that add packages to a line.
    available = sorted(
        path.stem for path in LANES.glob("airflow-*.in") if re.fullmatch(r"airflow-[\d.]+", path.stem)
    )
    parser.add_argument("lanes", nargs="*", metavar="LANE", help=f"default: {', '.join(available)}")
    parser.add_argument("--pytest-args", default="", help="passed to pytest, e.g. '-x tests/hooks'")
    args = parser.parse_args(argv)
    unknown = set(args.lanes) - set(available)
    if unknown:
        parser.error(f"unknown lanes {sorted(unknown)}; choose from {', '.join(available)}")
    VENVS.mkdir(exist_ok=True)
    for lane in args.lanes or available:
        print(f"... {lane}: installing {airflow_line(lane)} unpinned and running the suite", flush=True)
        report(run_line(lane, args.pytest_args.split()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
