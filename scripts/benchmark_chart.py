"""Draw the benchmark's status requests per poll round against the number of waits, as an SVG.

No plotting dependency: two lines on log-log axes are a few dozen SVG elements, and writing them here
keeps the output byte-for-byte reproducible from the same figures (a diff shows only what changed).

    python scripts/benchmark_chart.py docs/_static/benchmark-waits.json docs/_static/benchmark-waits.svg

``python scripts/benchmark.py waits --docs`` measures and calls this itself.
"""

from __future__ import annotations

import argparse
import json
import math
from html import escape
from pathlib import Path
from typing import Any

WIDTH, HEIGHT = 640, 380
LEFT, RIGHT, TOP, BOTTOM = 72, 24, 48, 64
#: Room around the data, in decades, so that no point or label sits on the frame.
PAD = 0.25
#: Mode -> (colour, dash pattern); the colours stay distinct for the common colour-vision deficiencies.
STYLES = {"per-wait polling": ("#d55e00", "6 4"), "shared poller": ("#0072b2", "")}


def _decades(values: list[float]) -> tuple[int, int]:
    low = math.floor(math.log10(max(min(values), 1)))
    high = math.ceil(math.log10(max(max(values), 10)))
    return low, max(high, low + 1)


def render(figures: dict[str, Any]) -> str:
    """The chart of ``figures`` (what ``benchmark.py waits`` returns) as an SVG document."""
    rows = figures["rows"]
    xs = [float(r["n"]) for r in rows]
    ys = [max(float(r["requests_per_round"]), 1.0) for r in rows]
    (x_low, x_high), (y_low, y_high) = _decades(xs), _decades(ys)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_at(value: float) -> float:
        return LEFT + (math.log10(value) - x_low + PAD) / (x_high - x_low + 2 * PAD) * plot_w

    def y_at(value: float) -> float:
        return (
            TOP + plot_h - (math.log10(max(value, 1.0)) - y_low + PAD) / (y_high - y_low + 2 * PAD) * plot_h
        )

    title = (
        f"Status requests per poll round (poll {figures['poll_seconds']:g} s, "
        f"imports complete after {figures['complete_after_seconds']:g} s)"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2:.1f}" y="24" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for decade in range(x_low, x_high + 1):
        x = x_at(10.0**decade)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{10**decade:,}</text>')
    for decade in range(y_low, y_high + 1):
        y = y_at(10.0**decade)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{10**decade:,}</text>')
    parts += [
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#606060"/>',
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 20}" text-anchor="middle">'
        "deferrable waits on one connection (log scale)</text>",
        f'<text transform="translate(18 {TOP + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
        "requests per round (log scale)</text>",
    ]
    for index, (mode, (colour, dash)) in enumerate(STYLES.items()):
        points = sorted((float(r["n"]), float(r["requests_per_round"])) for r in rows if r["mode"] == mode)
        if not points:
            continue
        path = " ".join(f"{x_at(n):.1f},{y_at(per_round):.1f}" for n, per_round in points)
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dashes}/>')
        for n, per_round in points:
            x, y = x_at(n), y_at(per_round)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>')
            label = f"{per_round:,.0f}" if per_round >= 10 else f"{per_round:.1f}".rstrip("0").rstrip(".")
            # Per-wait polling is never below the shared poller: its labels go above-left, the other's
            # below-right, so that equal values (N = 1) do not overlap.
            if index == 0:
                parts.append(
                    f'<text x="{x - 6:.1f}" y="{y - 8:.1f}" text-anchor="end" fill="{colour}">{label}</text>'
                )
            else:
                parts.append(f'<text x="{x + 6:.1f}" y="{y + 16:.1f}" fill="{colour}">{label}</text>')
        legend_y = TOP + 18 + index * 18
        parts.append(
            f'<line x1="{LEFT + 14}" y1="{legend_y - 4}" x2="{LEFT + 40}" y2="{legend_y - 4}" '
            f'stroke="{colour}" stroke-width="2"{dashes}/>'
        )
        parts.append(f'<text x="{LEFT + 46}" y="{legend_y}">{escape(mode)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_chart(figures: dict[str, Any], path: Path) -> None:
    """Write the chart of ``figures`` to ``path``."""
    path.write_text(render(figures), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", type=Path, help="the JSON that benchmark.py waits --docs wrote")
    parser.add_argument("chart", type=Path, help="where to write the SVG")
    args = parser.parse_args()
    write_chart(json.loads(args.figures.read_text(encoding="utf-8")), args.chart)


if __name__ == "__main__":
    main()
