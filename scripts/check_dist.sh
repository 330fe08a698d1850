#!/usr/bin/env bash
# Build the sdist and the wheel (the wheel from the sdist, as an index would), install the wheel into a fresh
# virtualenv with its dependencies, and check what a user gets: the provider entry point Airflow discovers,
# py.typed, and the mimecast-simulator console script. Nothing is imported from the checkout.
#
#   scripts/check_dist.sh            (from anywhere; uses python3 from PATH; prints what it checked)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mimecast-dist-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# `build` lives in a throwaway venv: it is a packaging tool, not a dependency of the provider or its tests.
# pip's and build's chatter goes to a log that is shown only when a step fails.
quietly() {
    "$@" >>"$WORK/log" 2>&1 || {
        cat "$WORK/log" >&2
        echo "check_dist: failed: $*" >&2
        exit 1
    }
}
# Every install takes the committed pins: the tools' for `build` and the setuptools of its isolated build
# environment (PIP_CONSTRAINT reaches that inner pip), Airflow 3.3's lane's for the wheel's dependencies.
TOOLS_PINS="$ROOT/ci/constraints/tools.txt"
AIRFLOW_PINS="$ROOT/ci/constraints/airflow-3.3.txt"
SECONDS=0
quietly python3 -m venv "$WORK/tools"
quietly "$WORK/tools/bin/pip" install -c "$TOOLS_PINS" build
export PIP_CONSTRAINT="$TOOLS_PINS"
quietly "$WORK/tools/bin/python" -m build --outdir "$WORK/dist" "$ROOT"
SDIST=("$WORK"/dist/*.tar.gz)
WHEEL=("$WORK"/dist/*.whl)
echo "built ${SDIST[0]##*/} and ${WHEEL[0]##*/} (${SECONDS} s)"

"$WORK/tools/bin/python" - "${SDIST[0]}" "${WHEEL[0]}" <<'PY'
import sys
import tarfile
import zipfile

sdist, wheel = sys.argv[1:]
with tarfile.open(sdist) as archive:
    sdist_names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
with zipfile.ZipFile(wheel) as archive:
    wheel_names = set(archive.namelist())
    entry_points = next(
        archive.read(name).decode() for name in wheel_names if name.endswith(".dist-info/entry_points.txt")
    )
for name in ("airflow_provider_mimecast/py.typed", "airflow_provider_mimecast/testing/simulator/__init__.py"):
    assert name in sdist_names, f"the sdist lacks {name}"
    assert name in wheel_names, f"the wheel lacks {name}"
for name in ("README.md", "pyproject.toml"):
    assert name in sdist_names, f"the sdist lacks {name}"
leaked = sorted(n for n in wheel_names if n.startswith(("tests/", "example_dags/", "docs/", "scripts/")))
assert not leaked, f"the wheel holds files that are not the package: {leaked}"
assert "[apache_airflow_provider]" in entry_points, entry_points
assert "mimecast-simulator = airflow_provider_mimecast.testing.simulator:main" in entry_points, entry_points
print(f"archives: py.typed, simulator and entry points present ({len(wheel_names)} files in the wheel)")
PY

quietly python3 -m venv "$WORK/venv"
PIP_CONSTRAINT="$AIRFLOW_PINS" quietly "$WORK/venv/bin/pip" install -c "$AIRFLOW_PINS" "${WHEEL[0]}"
echo "installed the wheel and its dependencies into a fresh virtualenv (${SECONDS} s)"
cd "$WORK"  # so that nothing can be imported from the checkout
export AIRFLOW_HOME="$WORK/airflow-home"

"$WORK/venv/bin/python" - <<'PY'
from importlib.metadata import distribution, entry_points
from importlib.resources import files

dist = distribution("airflow-provider-mimecast")
assert "site-packages" in str(dist.locate_file("")), dist.locate_file("")
[provider] = [e for e in entry_points(group="apache_airflow_provider") if e.dist.name == dist.name]
info = provider.load()()
assert info["package-name"] == "airflow-provider-mimecast", info["package-name"]
assert info["versions"][0] == dist.version, (info["versions"], dist.version)
assert files("airflow_provider_mimecast").joinpath("py.typed").is_file(), "py.typed is not installed"
assert "Typing :: Typed" in (dist.metadata.get_all("Classifier") or []), "no Typing :: Typed classifier"
assert "airflow-provider" in (dist.metadata.get("Keywords") or ""), dist.metadata.get("Keywords")
print(f"installed {dist.name} {dist.version}: provider entry point loads, py.typed present, typed and keyword")
PY

# Captured first: grep -q would close the pipe early and fail the pipeline under pipefail.
providers="$("$WORK/venv/bin/airflow" providers list -o plain 2>>"$WORK/log")"
grep -q '^airflow-provider-mimecast ' <<<"$providers" || {
    echo "airflow providers list does not show airflow-provider-mimecast:" >&2
    echo "$providers" >&2
    exit 1
}
echo "airflow providers list: airflow-provider-mimecast"
usage="$("$WORK/venv/bin/mimecast-simulator" --help)"
grep -q -- '--seed-import' <<<"$usage"
echo "mimecast-simulator --help: ok (${SECONDS} s in all)"
