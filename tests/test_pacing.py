"""The shared poller's pacing decisions, without a server or a real clock."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from airflow_provider_mimecast.pacing import cadence, choose, fair_order


@dataclass(eq=False)
class W:
    name: str
    checked_at: float
    deadline: float = math.inf
    failed_at: float = -math.inf
    ids: int = 1

    @property
    def import_ids(self) -> tuple[str, ...]:
        return tuple(f"{self.name}-{n}" for n in range(self.ids))


def names(waits: list[W]) -> list[str]:
    return [w.name for w in waits]


def test_the_order_is_deadline_then_unchecked_longest_a_failure_counting_as_a_check():
    waits = [
        W("recent", checked_at=50),
        W("failed", checked_at=0, failed_at=40),
        W("oldest", checked_at=10),
        W("deadline", checked_at=90, deadline=100),
    ]
    assert names(fair_order(waits, now=100)) == ["deadline", "oldest", "failed", "recent"]


def test_a_round_takes_as_many_requests_as_the_budget_allows_above_the_reserve():
    due = [W(f"w{n}", checked_at=n) for n in range(30)]
    chosen, last = choose(due, now=100, batch_size=10, spare=2.7)
    assert names(chosen) == [f"w{n}" for n in range(20)]  # two requests, the 20 unchecked longest
    assert last == 0
    assert choose(due, now=100, batch_size=10, spare=0)[0] == []
    assert len(choose(due, now=100, batch_size=10, spare=math.inf)[0]) == 30  # before the first answer


def test_a_wait_at_its_deadline_gets_its_last_check_without_budget():
    due = [W("big", checked_at=0, ids=10), W("ending", checked_at=99, deadline=100)]
    chosen, last = choose(due, now=100, batch_size=10, spare=0)
    assert (names(chosen), last) == (["ending"], 1)
    # Its request has room: a due wait that fits rides along for free.
    due.append(W("small", checked_at=5))
    chosen, last = choose(due, now=100, batch_size=10, spare=0.5)
    assert (names(chosen), last) == (["ending", "small"], 1)


def test_waits_that_are_not_due_yet_only_fill_free_places():
    due = [W("a", checked_at=0, ids=7)]
    joining = [W("big", checked_at=0, ids=4), W("small", checked_at=0, ids=3)]
    chosen, _ = choose(due, now=100, batch_size=10, spare=5, joining=joining)
    assert names(chosen) == ["a", "small"]  # 7 + 3 fill one request; "big" would take a second


def test_no_wait_is_starved_when_the_waits_need_more_than_the_refill():
    """1,000 waits of one ID, one request (10 IDs) per step: every wait is checked once in 100 steps."""
    waits = [W(f"w{n}", checked_at=0) for n in range(1000)]
    checks = dict.fromkeys(names(waits), 0)
    for step in range(1, 201):
        chosen, _ = choose(waits, now=step, batch_size=10, spare=1)
        for wait in chosen:
            wait.checked_at = step
            checks[wait.name] += 1
    assert set(checks.values()) == {2}


@pytest.mark.parametrize(
    ("waits", "refill_rate", "line"),
    [
        (
            [(1, 60.0)] * 1000,
            12 / 60,
            "1,000 waits need 100 requests a minute; Mimecast gives this API user about 12: each import is "
            "checked about every 8 minutes",
        ),
        (
            [(1, 60.0)] * 100,
            12 / 60,
            "100 waits need 10 requests a minute; Mimecast gives this API user about 12: each import is checked "
            "every 60 s, its poll interval",
        ),
        ([(1, 60.0)] * 5, None, "5 waits need 0.5 requests a minute; Mimecast's refill is not known yet"),
    ],
)
def test_the_cadence_says_how_often_each_import_is_checked_and_why(waits, refill_rate, line):
    assert cadence(waits, batch_size=10, refill_rate=refill_rate).describe() == line


def test_a_new_log_line_only_when_the_cadence_changes():
    slow = cadence([(1, 60.0)] * 1000, batch_size=10, refill_rate=0.2)
    assert slow.paced and slow.check_every == pytest.approx(500)
    assert slow.changed_from(None)
    assert not cadence([(1, 60.0)] * 1010, batch_size=10, refill_rate=0.2).changed_from(slow)
    assert cadence([(1, 60.0)] * 1500, batch_size=10, refill_rate=0.2).changed_from(slow)
    assert cadence([(1, 60.0)] * 10, batch_size=10, refill_rate=0.2).changed_from(slow)  # no longer paced
