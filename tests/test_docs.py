"""The documentation stays true to the code: every error class is explained, the test command is the one CI
runs, and the simulator page's example is a test that runs here."""

from __future__ import annotations

import inspect
import itertools
import re
from pathlib import Path

import pytest

from airflow_provider_mimecast import errors
from airflow_provider_mimecast.connection_extras import EXTRAS, Extra
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.testing.simulator import Fault, MimecastSimulator

ROOT = Path(__file__).parents[1]


def _section_titles(rst: str) -> set[str]:
    """Titles of reStructuredText sections: a line followed by an underline of the same length."""
    lines = rst.splitlines()
    return {
        title
        for title, underline in itertools.pairwise(lines)
        if title.strip() and re.fullmatch(r"([=\-~^\"'])\1*", underline) and len(underline) == len(title)
    }


def test_troubleshooting_has_a_section_for_every_error_class() -> None:
    classes = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.MimecastError)
    }
    assert "MimecastUploadNotRetriedError" in classes  # the scan itself finds the hierarchy
    titles = _section_titles((ROOT / "docs" / "troubleshooting.rst").read_text(encoding="utf-8"))
    missing = sorted(classes - titles)
    assert not missing, (
        f"docs/troubleshooting.rst has no section for {missing}: say what causes each and what to do"
    )


def test_readme_test_command_is_the_one_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
    command = blocks[1].strip()
    ci_commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith(("#", "set ", "cd ", "export "))
    ]
    assert ci_commands[0] == command
    assert "sphinx-build -W" in command, "the docs must build, with warnings as errors, in the test command"


# [START howto_simulator_test]
def test_status_survives_a_rate_limit_and_a_server_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with MimecastSimulator(pending_seconds=0, processing_seconds=0) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", sim.airflow_connection("oauth2"))
        import_id = sim.create_import(total_users=10, successful_imported_users=9)
        status_path = "/api/user/get-import-status"
        sim.inject(
            Fault("rate_limit", path=status_path, reset_ms=50),
            Fault("server_error", path=status_path, status=503),
        )

        [status] = MimecastHook(retry_delay=0.01).get_import_status(import_id)

        assert (status.status, status.total_users, status.successful_imported_users) == ("completed", 10, 9)
        assert [r.response_status for r in sim.requests_to(status_path)] == [429, 503, 200]
        assert len(sim.requests_to("/oauth/token")) == 1  # the token was fetched once and reused


# [END howto_simulator_test]


def _shown_default(extra: Extra) -> str:
    default = extra.default
    if isinstance(default, bool):
        return f"``{str(default).lower()}``"
    if isinstance(default, str):
        return f"``{default}``"
    return f"{default:g}"


def test_connection_page_lists_every_declared_extra_with_its_default_and_bounds() -> None:
    page = (ROOT / "docs" / "connection.rst").read_text(encoding="utf-8")
    # The rows of the fields table: "   * - extra ``name``" up to the next row or the table's end.
    rows = dict(re.findall(r"\* - extra ``(\w+)``\n(.*?)(?=\n   \* - |\n\n)", page, flags=re.DOTALL))
    assert set(rows) == {extra.name for extra in EXTRAS}, "docs/connection.rst's table of extras"
    for extra in EXTRAS:
        row = " ".join(rows[extra.name].split())
        if extra.default is not None:
            assert f"default {_shown_default(extra)}" in row, extra.name
        if extra.kind == "integer":
            assert f"{extra.minimum:g} to {extra.maximum:g}" in row, extra.name
        if extra.exclusive_maximum:
            assert f"{extra.minimum:g} to below {extra.maximum:g}" in row, extra.name
        if extra.exclusive_minimum and extra.minimum == 0:
            assert "positive" in row, extra.name
        # the form's section names every field by its label, with its default
        label = f"**{extra.label}**"
        assert label in page, f"docs/connection.rst's form section lacks {label}"
        if extra.default is not None:
            after = " ".join(page.split(label, 1)[1].split())
            assert after.startswith(f"(default {_shown_default(extra)}") or extra.kind == "choice", extra.name


def test_readme_dag_parses_into_an_import_and_a_deferrable_wait_on_its_id() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [source] = [
        block for block in re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL) if "DAG(" in block
    ]
    assert len(source.splitlines()) <= 20, "the README's DAG stays short"
    namespace: dict[str, object] = {}
    exec(compile(source, "README.md", "exec"), namespace)
    start, wait = namespace["start_import"], namespace["wait_for_import"]
    dag = start.dag  # type: ignore[attr-defined]
    assert sorted(dag.task_ids) == ["start_import", "wait_for_import"]
    assert wait.upstream_task_ids == {"start_import"}  # type: ignore[attr-defined]
    assert wait.deferrable and wait.timeout == 2 * 60 * 60  # type: ignore[attr-defined]


def test_design_map_names_every_module_and_only_modules_that_exist() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    table = design[design.index("## Map") : design.index("\n## ", design.index("## Map") + 1)]
    named = {
        cell
        for row in table.splitlines()
        if row.startswith("| `")
        for cell in re.findall(r"`([\w/]+\.py)`", row.split("|")[1])
    }
    package = ROOT / "airflow_provider_mimecast"
    modules = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "__init__.py" and "testing" not in path.parts
    }
    assert sorted(modules - named) == [], "add a row to docs/design.md's map for each new module"
    assert sorted(named - modules) == [], "docs/design.md's map names modules that no longer exist"
