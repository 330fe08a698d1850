"""Where a triggerer's trigger loop was stuck: py-spy samples (speedscope format, idle samples included) read
as a timeline, each run of busy samples in an event-loop thread a block, named by the frames it ran."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Frames of the code under test; a block running one of them is ours.
OUR_PACKAGE = "airflow_provider_mimecast"


@dataclass(frozen=True)
class Block:
    thread: str
    starts_at: float  # seconds since py-spy attached
    seconds: float
    entries: list[tuple[str, int]]  # what the loop was running (the frame under Handle._run), by samples
    ours: list[tuple[str, int]]  # our innermost frames seen in the block, by samples

    def describe(self) -> str:
        def listed(counts: list[tuple[str, int]]) -> str:
            return "; ".join(f"{frame} x{n}" for frame, n in counts) or "none"

        return (
            f"{self.seconds:.2f} s at {self.starts_at:.1f} s ({self.thread})\n"
            f"      running: {listed(self.entries)}\n      our frames: {listed(self.ours)}"
        )


def blocks(speedscope: Path, *, min_seconds: float = 0.1) -> list[Block]:
    """The busy stretches of at least ``min_seconds`` in every event-loop thread of one recording."""
    document = json.loads(speedscope.read_text())
    frames = document["shared"]["frames"]

    def label(index: int) -> str:
        frame = frames[index]
        file = frame.get("file") or ""
        where = file.split("site-packages/")[-1].split("/work/")[-1]
        return f"{frame['name']} ({where}:{frame.get('line', '?')})"

    found: list[Block] = []
    for profile in document["profiles"]:
        names = [[frames[i]["name"] for i in sample] for sample in profile["samples"]]
        seen = {name for stack in names for name in stack}
        if "BaseEventLoop._run_once" not in seen or not any(
            name.startswith("TriggerRunner.") for name in seen
        ):
            continue  # not the loop that runs the triggers (the supervisor has an API-client loop too)
        elapsed, run_start = 0.0, 0.0
        run: list[tuple[list[int], float]] = []
        for sample, stack, weight in zip(profile["samples"], names, profile["weights"], strict=True):
            # The loop waits in its selector; anything else on this thread holds every trigger up.
            idle = not stack or stack[-1].endswith("select") or "BaseEventLoop._run_once" not in stack
            if idle:
                if run and sum(w for _, w in run) >= min_seconds:
                    found.append(_block(profile["name"], run_start, run, frames, label))
                run = []
            else:
                if not run:
                    run_start = elapsed
                run.append((sample, weight))
            elapsed += weight
    return sorted(found, key=lambda b: -b.seconds)


def _block(
    thread: str,
    start: float,
    run: list[tuple[list[int], float]],
    frames: list[dict[str, Any]],
    label: Callable[[int], str],
) -> Block:
    entries: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for sample, _ in run:
        names = [frames[i]["name"] for i in sample]
        below = max((n for n, name in enumerate(names) if name == "Handle._run"), default=-1) + 1
        entries[label(sample[min(below, len(sample) - 1)])] += 1
        mine = [i for i in sample if OUR_PACKAGE in (frames[i].get("file") or "")]
        if mine:
            ours[label(mine[-1])] += 1
    return Block(thread, start, sum(w for _, w in run), entries.most_common(3), ours.most_common(5))
