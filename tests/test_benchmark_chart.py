"""The performance page's chart and table are the ones the committed benchmark figures produce."""

from __future__ import annotations

import importlib.util
import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).parents[1]
STATIC = ROOT / "docs" / "_static"
SVG = "{http://www.w3.org/2000/svg}"


def chart_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_chart", ROOT / "scripts" / "benchmark_chart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("benchmark_chart", module)
    spec.loader.exec_module(module)
    return module


def figures(per_wait: dict[int, float], shared: dict[int, float]) -> dict[str, object]:
    rows = [{"mode": "per-wait polling", "n": n, "requests_per_round": r} for n, r in per_wait.items()]
    rows += [{"mode": "shared poller", "n": n, "requests_per_round": r} for n, r in shared.items()]
    return {"poll_seconds": 2, "complete_after_seconds": 10, "rows": rows}


def test_the_chart_draws_one_line_per_mode_with_a_labelled_point_per_measurement():
    svg = chart_module().render(figures({1: 1, 10: 10, 100: 100}, {1: 1, 10: 1, 100: 10, 1000: 100}))
    root = ElementTree.fromstring(svg)
    lines = root.findall(f"{SVG}polyline")
    assert [len(line.get("points", "").split()) for line in lines] == [3, 4]
    labels = [text.text for text in root.findall(f"{SVG}text")]
    assert {"per-wait polling", "shared poller", "1,000", "100"} <= set(labels)
    # Log scale: each decade of waits is the same width, and the shared poller's 100 sits where
    # per-wait polling's 100 does, one decade of waits to the right.
    per_wait = [tuple(map(float, p.split(","))) for p in lines[0].get("points", "").split()]
    shared = [tuple(map(float, p.split(","))) for p in lines[1].get("points", "").split()]
    assert abs((per_wait[1][0] - per_wait[0][0]) - (per_wait[2][0] - per_wait[1][0])) < 0.2
    assert abs(shared[3][1] - per_wait[2][1]) < 0.2 and abs(shared[3][0] - per_wait[2][0]) > 50


def test_the_committed_chart_and_table_come_from_the_committed_figures():
    committed = json.loads((STATIC / "benchmark-waits.json").read_text(encoding="utf-8"))
    assert (STATIC / "benchmark-waits.svg").read_text(encoding="utf-8") == chart_module().render(committed)
    assert (STATIC / "benchmark-waits.txt").read_text(encoding="utf-8") == "\n".join(
        committed["table"]
    ) + "\n"
    # What the page says of them: a shared round costs ceil(N / 10) requests (Mimecast's limit), per-wait
    # polling N. Within a tenth, since a wait that joins or leaves mid-round makes a round smaller.
    for row in committed["rows"]:
        expected = -(-row["n"] // 10) if row["mode"] == "shared poller" else row["n"]
        assert abs(row["requests_per_round"] - expected) <= expected / 10, row
