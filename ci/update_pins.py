"""Resolve every CI lane's pinned set again: ``ci/lanes/<lane>.in`` -> ``ci/constraints/<lane>.txt``.

    python3 ci/update_pins.py                          # every lane, resolved as of now
    python3 ci/update_pins.py --exclude-newer 2026-12-03 airflow-2.11

Each lane's constraints are what ``uv pip compile --resolution highest`` picks for Python 3.11 on Linux from
the lane's ``.in`` file, this project's dependencies (``pyproject.toml``, with the lane's extras) and its
build requirements, ignoring every release uploaded after the cut-off date. The date goes in each file's
header, so the same command with the same date gives the same file on any machine. Run
``ci/check_unpinned.py`` first: it shows what the newest releases break. Then review the diff and
commit the constraints on their own ("Pins: resolved as of <date>").

uv (a pinned release) is installed into ``.venv-pins`` on the first run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
LANES = ROOT / "ci" / "lanes"
CONSTRAINTS = ROOT / "ci" / "constraints"
UV_VERSION = "0.13.9"
UV_VENV = ROOT / ".venv-pins"
# Extras of this project each lane installs; a lane not named here installs none. `tools` resolves its .in
# alone: it holds the packaging tools, not the provider.
LANE_EXTRAS = {
    "airflow-3.3": ("test", "docs"),
    "airflow-2.11": ("test",),
    "airflow-3.0": ("test",),
    "airflow-3.1": ("test",),
    "airflow-3.2": ("test",),
    "airflow-3.3-openlineage": ("test",),
    "deployment": (),
}
WITHOUT_PROJECT = {"tools"}


def uv() -> Path:
    binary = UV_VENV / "bin" / "uv"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(UV_VENV)], check=True)
        # uv ships as one wheel without dependencies.
        subprocess.run(
            [str(UV_VENV / "bin" / "pip"), "install", "-q", "--no-deps", f"uv=={UV_VERSION}"], check=True
        )
    return binary


def build_requirements() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return list(tomllib.load(file)["build-system"]["requires"])


def compile_lane(lane: str, cutoff: str) -> Path:
    source = LANES / f"{lane}.in"
    target = CONSTRAINTS / f"{lane}.txt"
    with tempfile.TemporaryDirectory() as tmp:
        inputs = [str(source)]
        extras: list[str] = []
        if lane not in WITHOUT_PROJECT:
            build = Path(tmp) / "build-system.in"
            build.write_text("\n".join(build_requirements()) + "\n")
            inputs += ["pyproject.toml", str(build)]
            for extra in LANE_EXTRAS.get(lane, ()):
                extras += ["--extra", extra]
        command = [
            str(uv()),
            "pip",
            "compile",
            "--quiet",
            "--resolution=highest",
            "--python-version=3.11",
            "--python-platform=x86_64-unknown-linux-gnu",
            f"--exclude-newer={cutoff}",
            "--no-header",
            "--annotation-style=line",
            *extras,
            *inputs,
        ]
        pins = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        # The same file whichever temporary folder held the build requirements.
        pins = pins.replace(f"-r {tmp}/build-system.in", "pyproject.toml [build-system]")
    relative = source.relative_to(ROOT)
    header = (
        f"# The pinned set of CI's {lane} lane: {relative}"
        + ("" if lane in WITHOUT_PROJECT else " and pyproject.toml")
        + f", resolved for Python 3.11 on Linux x86_64\n# with releases uploaded before {cutoff}.\n"
        f"# Made by `python3 ci/update_pins.py --exclude-newer {cutoff} {lane}`; do not edit by hand.\n"
    )
    target.write_text(header + pins)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--exclude-newer",
        default=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        help="ignore releases uploaded after this date or time (RFC 3339, UTC); default: now",
    )
    available = sorted(path.stem for path in LANES.glob("*.in"))
    parser.add_argument("lanes", nargs="*", metavar="LANE", help=f"default: all of {', '.join(available)}")
    args = parser.parse_args(argv)
    unknown = set(args.lanes) - set(available)
    if unknown:
        parser.error(f"no ci/lanes/<lane>.in for {sorted(unknown)}; choose from {', '.join(available)}")
    CONSTRAINTS.mkdir(parents=True, exist_ok=True)
    for lane in args.lanes or available:
        target = compile_lane(lane, args.exclude_newer)
        count = sum(1 for line in target.read_text().splitlines() if "==" in line)
        print(f"{lane}: {count} pins -> {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
