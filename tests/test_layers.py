"""Imports point down (docs/design.md, "Layers"): the core imports no layer above it, triggers import no task,
hooks import neither triggers nor tasks; and no module outgrows ``MAX_MODULE_LINES``.

Ruff enforces the imports (``TID251``): the core's ban in ``pyproject.toml``, applied to the core modules
listed there one by one, the triggers' in ``airflow_provider_mimecast/triggers/ruff.toml`` and the hooks' in
``airflow_provider_mimecast/hooks/ruff.toml``. These tests keep
the lists complete (a new top-level module is either core or a named exception; a new subpackage is banned
from the core) and show that each rule fires on the files it covers, and only there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "airflow_provider_mimecast"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
TRIGGERS_CONFIG = tomllib.loads((PACKAGE / "triggers" / "ruff.toml").read_text(encoding="utf-8"))
HOOKS_CONFIG = tomllib.loads((PACKAGE / "hooks" / "ruff.toml").read_text(encoding="utf-8"))
#: The most lines a module of the package or of scripts/ may have (docs/design.md, "Map").
MAX_MODULE_LINES = 320

#: Top-level modules that are not core, and why. Every other top-level module is core.
NOT_CORE = {
    "get_provider_info": "Airflow's entry point into the provider: it describes every layer (the hook, "
    "operator, sensor and trigger classpaths, the connection form), so it sits above them all",
}
#: The layers above the core, one subpackage each.
LAYERS = {"hooks", "triggers", "operators", "sensors", "testing"}


def _core_modules() -> set[str]:
    """The core list: the module names in the one per-file-ignores pattern that turns TID251 off outside it."""
    ignores = PYPROJECT["tool"]["ruff"]["lint"]["per-file-ignores"]
    [pattern] = [key for key, codes in ignores.items() if "TID251" in codes]
    match = re.fullmatch(r"!airflow_provider_mimecast/\{([\w,]+)\}\.py", pattern)
    assert match, f"the core's per-file-ignores pattern has an unexpected shape: {pattern}"
    return set(match.group(1).split(","))


def _banned(config: dict) -> set[str]:
    return set(config["flake8-tidy-imports"]["banned-api"])


def _tid251(path: Path, source: str) -> list[str]:
    """The banned modules ruff reports in ``source`` as if it were the file at ``path``."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--output-format=json",
            f"--stdin-filename={path}",
            "-",
        ],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return sorted(
        d["message"].split("`")[1]  # "`airflow_provider_mimecast.hooks` is banned: ..."
        for d in json.loads(result.stdout)
        if d["code"] == "TID251"
    )


def _imports(*modules: str) -> str:
    """Module-level and function-level imports of ``modules`` (a ban covers both)."""
    lines = [f"import airflow_provider_mimecast.{m}" for m in modules]
    lines += ["", "", "def late():"] + [
        f"    from airflow_provider_mimecast.{m} import x  # noqa: F401" for m in modules
    ]
    return "\n".join([*lines, "    return airflow_provider_mimecast", ""])


def test_every_top_level_module_is_core_or_a_named_exception():
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    core = _core_modules()
    assert not core & set(NOT_CORE), "a module is both core and an exception"
    assert all(reason.strip() for reason in NOT_CORE.values())
    unlisted = sorted(modules - core - set(NOT_CORE))
    assert not unlisted, (
        f"{unlisted}: add each to the core list in pyproject.toml (per-file-ignores, TID251), or to NOT_CORE "
        "here with the reason it may import hooks, triggers, operators or sensors"
    )
    assert not (core | set(NOT_CORE)) - modules, "the core list names a module that does not exist"


def test_the_core_is_banned_from_every_layer_above_it():
    subpackages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert subpackages == LAYERS, "a new subpackage: say which layer it is, and ban it from the core"
    banned = _banned(PYPROJECT["tool"]["ruff"]["lint"])
    assert banned == {f"airflow_provider_mimecast.{layer}" for layer in LAYERS}


def test_triggers_are_banned_from_the_tasks_that_defer_to_them():
    assert TRIGGERS_CONFIG["extend"] == "../../pyproject.toml"
    assert TRIGGERS_CONFIG["lint"]["per-file-ignores"] == {}
    banned = _banned(TRIGGERS_CONFIG["lint"])
    assert banned == {"airflow_provider_mimecast.operators", "airflow_provider_mimecast.sensors"}


def test_hooks_are_banned_from_the_layers_that_use_them():
    assert HOOKS_CONFIG["extend"] == "../../pyproject.toml"
    assert HOOKS_CONFIG["lint"]["per-file-ignores"] == {}
    banned = _banned(HOOKS_CONFIG["lint"])
    assert banned == {f"airflow_provider_mimecast.{layer}" for layer in ("operators", "sensors", "triggers")}


@pytest.mark.parametrize("module", sorted(_core_modules()))
def test_the_core_rule_fires_in_each_core_module(module):
    reported = _tid251(PACKAGE / f"{module}.py", _imports(*sorted(LAYERS)))
    assert reported == sorted(2 * [f"airflow_provider_mimecast.{layer}" for layer in LAYERS])


@pytest.mark.parametrize("module", sorted(p.stem for p in (PACKAGE / "triggers").glob("*.py")))
def test_the_triggers_rule_fires_in_each_trigger_module_and_lets_hooks_and_the_core_in(module):
    path = PACKAGE / "triggers" / f"{module}.py"
    reported = _tid251(path, _imports("operators.import_users", "sensors.import_status"))
    assert reported == sorted(
        2 * ["airflow_provider_mimecast.operators", "airflow_provider_mimecast.sensors"]
    )
    assert _tid251(path, _imports("hooks.mimecast", "status", "triggers.poller")) == []


@pytest.mark.parametrize("module", sorted(p.stem for p in (PACKAGE / "hooks").glob("*.py")))
def test_the_hooks_rule_fires_in_each_hook_module_and_lets_the_core_in(module):
    path = PACKAGE / "hooks" / f"{module}.py"
    reported = _tid251(path, _imports("operators.import_users", "sensors.import_status", "triggers.poller"))
    assert reported == sorted(
        2
        * [
            "airflow_provider_mimecast.operators",
            "airflow_provider_mimecast.sensors",
            "airflow_provider_mimecast.triggers",
        ]
    )
    assert _tid251(path, _imports("hooks.retry", "status", "errors")) == []


@pytest.mark.parametrize(
    "path", ["get_provider_info.py", "operators/import_users.py", "sensors/import_status.py"]
)
def test_the_layers_above_the_hooks_are_not_banned_from_each_other(path):
    assert _tid251(PACKAGE / path, _imports("hooks.mimecast", "triggers.import_status")) == []


def test_no_module_is_above_the_line_limit():
    modules = [*PACKAGE.rglob("*.py"), *(ROOT / "scripts").rglob("*.py")]
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"split these along a seam (docs/design.md, 'Map'): {too_long}"
