"""The shared poller's schedule: every decision of its loop, with a fake clock (plain numbers) and no server."""

from __future__ import annotations

import math

import pytest

from airflow_provider_mimecast.errors import (
    MimecastAuthenticationError,
    MimecastRateLimitError,
    MimecastServerError,
    MimecastTransportError,
)
from airflow_provider_mimecast.poll_schedule import (
    GATHER_SECONDS,
    MAX_JOIN_AHEAD_SECONDS,
    MAX_RATE_LIMIT_PAUSE_SECONDS,
    MIN_INTERVAL_SECONDS,
    PollSchedule,
    RoundOutcome,
    ScheduledWait,
)
from airflow_provider_mimecast.status import ImportStatus


class FakeBackoff:
    """Each failure earns ``step`` seconds times the number of consecutive failures."""

    def __init__(self, step: float = 1.0) -> None:
        self.step = step
        self.failures = 0

    def failed(self) -> float:
        self.failures += 1
        return self.step * self.failures

    def reset(self) -> None:
        self.failures = 0


def schedule() -> PollSchedule:
    return PollSchedule(outage=FakeBackoff(), rate_limits=FakeBackoff(0.25))


def wait(*ids: str, interval: float = 10.0, deadline: float = 1000.0) -> ScheduledWait:
    return ScheduledWait(ids or ("a",), interval, deadline)


def answered(*ids: str) -> RoundOutcome:
    return RoundOutcome(results={i: ImportStatus(id=i, status="PENDING") for i in ids})


def rate_limited(retry_after: float, *, sent: bool = True) -> MimecastRateLimitError:
    return MimecastRateLimitError("429", retry_after=retry_after, status_code=429 if sent else None)


# ------------------------------------------------------------------ registering: the join rule
def test_the_first_wait_gathers_the_waits_registering_with_it():
    plan = schedule()
    first = wait()
    assert plan.add(first, now=100.0)  # the idle loop must wake for it
    assert first.next_due == 100.0 + GATHER_SECONDS and first.checked_at == 100.0
    second = wait("b")
    assert not plan.add(second, now=100.01)  # joins the round already due: no earlier wake-up
    assert second.next_due == first.next_due


def test_a_new_wait_joins_the_next_round_due_within_its_interval_else_starts_its_own():
    plan = schedule()
    plan.add(wait(), now=0.0)
    plan.next_round = 8.0
    joins = wait("b", interval=10.0)
    assert not plan.add(joins, now=1.0) and joins.next_due == 8.0
    own = wait("c", interval=5.0)  # the next round is 7 s away, beyond its 5 s interval
    assert plan.add(own, now=1.0) and own.next_due == 1.0 + GATHER_SECONDS and plan.next_round == own.next_due


def test_a_short_interval_is_raised_and_a_past_deadline_is_checked_at_once():
    plan = schedule()
    busy = wait(interval=0.0, deadline=50.0)
    plan.add(busy, now=60.0)
    assert busy.interval == MIN_INTERVAL_SECONDS
    assert busy.next_due == 50.0  # never after its deadline


def test_a_new_wait_is_not_held_past_its_deadline_by_the_refill():
    plan = schedule()
    plan.paced_until = 500.0
    plan.add(wait(deadline=30.0), now=0.0)
    assert plan.paced_until == 30.0


# ------------------------------------------------------------------ the cadence
def test_the_next_round_waits_for_a_pause_or_the_refill():
    plan = schedule()
    plan.add(wait(), now=0.0)
    assert plan.next_round_at() == GATHER_SECONDS
    plan.retry_at = 7.0
    assert plan.next_round_at() == 7.0 == plan.next_round
    plan.paced_until = 9.0
    assert plan.next_round_at() == 9.0


def test_a_round_carries_the_due_waits_and_those_due_within_their_join_ahead():
    plan = schedule()
    due, soon, later = wait("a"), wait("b", interval=8.0), wait("c", interval=8.0)
    for w in (due, soon, later):
        plan.add(w, now=0.0)
    due.next_due, soon.next_due, later.next_due = 10.0, 11.9, 12.1  # soon's join-ahead is 2 s
    round_ = plan.round(due_at=10.0, now=10.0)
    assert round_ is not None
    assert round_.due == [due] and round_.joining == [soon] and round_.round_at == 10.0
    assert plan.next_round == 20.0  # waits that register meanwhile join the next round
    assert wait(interval=100.0).join_ahead() == MAX_JOIN_AHEAD_SECONDS


def test_woken_early_for_a_joiner_it_goes_as_due_and_with_nothing_due_no_round_goes():
    plan = schedule()
    only = wait(interval=8.0)
    plan.add(only, now=0.0)
    only.next_due = 11.0
    round_ = plan.round(due_at=10.0, now=10.0)
    assert round_ is not None and round_.due == [only] and round_.joining == []
    only.next_due = 50.0
    assert plan.round(due_at=10.0, now=10.0) is None


def test_a_late_wake_up_keeps_the_cadence_and_a_stall_restarts_it_from_now():
    plan = schedule()
    w = wait(interval=10.0)
    plan.add(w, now=0.0)
    w.next_due = 10.0
    late = plan.round(due_at=10.0, now=10.5)
    assert late is not None and late.round_at == 10.0
    stalled = plan.round(due_at=10.0, now=25.0)
    assert stalled is not None and stalled.round_at == 25.0


def test_the_next_check_counts_from_the_round_unless_the_round_outlasted_the_interval():
    w = wait(interval=10.0, deadline=100.0)
    assert not w.checked(round_at=10.0, answered_at=11.0)
    assert w.next_due == 20.0 and w.checked_at == 11.0
    assert not w.checked(round_at=20.0, answered_at=35.0)
    assert w.next_due == 45.0
    assert not w.checked(round_at=92.0, answered_at=93.0)
    assert w.next_due == 100.0  # never after the deadline
    assert w.checked(round_at=100.0, answered_at=100.5) and w.next_due == math.inf


# ------------------------------------------------------------------ batches and the refill
def test_batches_carry_each_id_once_and_while_probing_only_the_first_and_the_last_checks():
    plan = schedule()
    waits = [wait("a", "b"), wait("b", "c"), wait("d", "e")]
    assert plan.batches(waits, now=0.0, batch_size=2) == [["a", "b"], ["c", "d"], ["e"]]
    plan.outage.failed()
    assert plan.batches(waits, now=0.0, batch_size=2) == [["a", "b"]]
    at_deadline = [wait("a", "b", deadline=0.0), wait("c", "d", deadline=0.0), wait("e")]
    assert plan.batches(at_deadline, now=0.0, batch_size=2) == [["a", "b"], ["c", "d"]]


def test_waits_left_out_by_the_rate_limit_go_at_the_refill_never_after_their_deadline():
    plan = schedule()
    plan.hold_for_refill([], now=10.0, refill_delay=30.0)
    assert plan.paced_until == 0.0
    plan.hold_for_refill([wait(deadline=100.0)], now=10.0, refill_delay=0.0)
    assert plan.paced_until == 10.05
    plan.hold_for_refill([wait(deadline=20.0)], now=10.0, refill_delay=30.0)
    assert plan.paced_until == 20.0


# ------------------------------------------------------------------ after a round: pause, probe, resume
def test_a_429_pauses_every_wait_at_least_a_growing_floor_at_most_the_cap():
    plan = schedule()
    assert plan.after_round(RoundOutcome(rate_limited=rate_limited(0.0)), now=10.0) == ("rate_limited", 0.25)
    assert plan.retry_at == 10.25 and plan.problem == "429" and plan.probing
    assert plan.after_round(RoundOutcome(rate_limited=rate_limited(0.0)), now=11.0) == ("rate_limited", 0.5)
    _, pause = plan.after_round(RoundOutcome(rate_limited=rate_limited(10_000.0)), now=12.0)
    assert pause == MAX_RATE_LIMIT_PAUSE_SECONDS


def test_a_request_held_back_for_the_reserve_waits_for_the_refill_without_the_floor():
    plan = schedule()
    assert plan.after_round(RoundOutcome(rate_limited=rate_limited(3.0, sent=False)), now=10.0) == (
        "refill",
        3.0,
    )
    assert plan.paced_until == 13.0 and plan.retry_at == 0.0 and not plan.probing and plan.problem is None


def test_an_outage_backs_off_probe_after_probe_and_its_end_resumes_full_pace():
    plan = schedule()
    down = MimecastServerError("503")
    assert plan.after_round(RoundOutcome(transient=down), now=10.0) == ("outage", 1.0)
    assert plan.after_round(RoundOutcome(transient=down), now=11.0) == ("outage_again", 2.0)
    assert plan.retry_at == 13.0 and plan.problem == "503"
    assert plan.after_round(answered("a"), now=14.0) == ("recovered", 0.0)
    assert plan.retry_at == 0.0 and plan.problem is None and not plan.probing
    assert plan.after_round(answered("a"), now=15.0) == ("steady", 0.0)


def test_refused_credentials_change_no_pace():
    plan = schedule()
    plan.after_round(RoundOutcome(transient=MimecastServerError("503")), now=10.0)
    refused = RoundOutcome(refused=MimecastAuthenticationError("401"))
    assert plan.after_round(refused, now=11.0) == ("steady", 0.0)
    assert plan.probing and plan.retry_at == 11.0


@pytest.mark.parametrize(
    ("error", "halts"),
    [
        (MimecastServerError("503"), True),
        (MimecastTransportError("timed out", request_sent=True), True),
        (MimecastAuthenticationError("401"), True),
        (MimecastTransportError("bad certificate", request_sent=False, transient=False), False),
    ],
)
def test_a_failed_request_halts_the_round_and_leaves_its_ids_unchecked_only_if_it_may_pass_later(
    error, halts
):
    outcome = RoundOutcome()
    assert outcome.failed(["a", "b"], error) == {"a": error, "b": error}
    assert outcome.halted is halts
    assert outcome.unchecked == ({"a", "b"} if halts else set())


# ------------------------------------------------------------------ what a wait hears
def test_a_wait_hears_its_statuses_and_is_due_again_one_interval_after_the_round():
    plan = schedule()
    w = wait("a", "b")
    outcome = answered("a", "b", "c")
    report = plan.report(w, outcome, round_at=10.0, answered_at=10.5)
    assert report == {"a": outcome.results["a"], "b": outcome.results["b"]}
    assert w.next_due == 20.0 and w.problem is None


def test_a_wait_not_carried_by_a_probe_stays_due_without_waking():
    w = wait("z")
    w.next_due = 5.0
    assert schedule().report(w, answered("a"), round_at=10.0, answered_at=10.5) is None
    assert w.next_due == 5.0


def test_a_failed_request_leaves_its_waits_due_and_says_why_until_the_last_check():
    plan = schedule()
    outcome = RoundOutcome()
    outcome.results.update(outcome.failed(["a"], MimecastServerError("503")))
    w = wait("a", deadline=100.0)
    w.next_due = 10.0
    assert plan.report(w, outcome, round_at=10.0, answered_at=10.5) is None
    assert w.next_due == 10.0 and w.failed_at == 10.5 and w.problem == "503"
    last = plan.report(w, outcome, round_at=100.0, answered_at=100.5)
    assert last == outcome.results and w.next_due == math.inf


def test_an_id_mimecast_left_out_is_asked_again_silently_and_an_error_that_ends_the_wait_is_heard():
    plan = schedule()
    missing = MimecastServerError("not in the answer")
    outcome = answered("a")
    outcome.results["b"] = missing
    w = wait("a", "b")
    assert plan.report(w, outcome, round_at=10.0, answered_at=10.5) is None
    assert w.problem == "not in the answer" and w.next_due == 20.0
    ended = MimecastTransportError("bad certificate", request_sent=False, transient=False)
    outcome.results["b"] = ended
    assert plan.report(w, outcome, round_at=20.0, answered_at=20.5) == outcome.results


def test_refused_credentials_end_every_wait_whose_request_failed_or_did_not_go():
    plan = schedule()
    refused = MimecastAuthenticationError("401")
    outcome = RoundOutcome()
    outcome.results.update(outcome.failed(["a"], refused))
    for w in (wait("a"), wait("never-sent")):
        assert plan.report(w, outcome, round_at=10.0, answered_at=10.5) == dict.fromkeys(
            w.import_ids, refused
        )
        assert w.next_due == math.inf
