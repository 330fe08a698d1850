"""The rate-limit budget of one API user, without a server or a real clock."""

from __future__ import annotations

import math

import pytest

from airflow_provider_mimecast.rate_budget import (
    FIRST_ANSWER_WAIT_SECONDS,
    RateBudget,
    RateHeaders,
    read_rate_headers,
)


def seen(remaining: int, reset_ms: float, limit: int = 100) -> RateHeaders:
    return RateHeaders(limit, remaining, reset_ms / 1000)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"x-ratelimit-limit": "800", "x-ratelimit-remaining": "799", "x-ratelimit-reset": "4988"},
            seen(799, 4988, 800),
        ),
        (
            {"X-RateLimit-Limit": "800", "X-RateLimit-Remaining": "900", "X-RateLimit-Reset": "0"},
            seen(800, 0, 800),
        ),
        ({"x-ratelimit-limit": "800", "x-ratelimit-remaining": "799"}, None),  # one missing
        ({"x-ratelimit-limit": "800", "x-ratelimit-remaining": "-1", "x-ratelimit-reset": "10"}, None),
        ({"x-ratelimit-limit": "lots", "x-ratelimit-remaining": "1", "x-ratelimit-reset": "10"}, None),
        # An epoch timestamp where milliseconds belong (a client's reading of API 2.0): not a countdown.
        ({"x-ratelimit-limit": "800", "x-ratelimit-remaining": "1", "x-ratelimit-reset": "1765000000"}, None),
        ({}, None),
    ],
)
def test_headers_are_read_only_when_all_three_are_usable(headers, expected):
    assert read_rate_headers(headers) == expected


def test_before_the_first_answer_one_call_goes_alone_to_learn_the_bucket():
    budget = RateBudget()
    assert budget.delay(0.0, 0.2) == 0
    assert budget.remaining(0.0) == math.inf
    budget.in_flight = 1
    assert budget.delay(0.0, 0.2) == FIRST_ANSWER_WAIT_SECONDS


def test_a_call_waits_while_sending_would_take_remaining_below_the_reserve():
    budget = RateBudget()
    budget.observe(seen(remaining=21, reset_ms=5000), now=0.0)
    assert budget.delay(0.0, 0.2) == 0  # 21 - 1 = 20 = the reserve of 0.2 x 100
    budget.in_flight = 1  # that call went
    # The next one waits for the refill due 5 s after the answer (plus a margin for the server's clock).
    assert budget.delay(1.0, 0.2) == pytest.approx(4.05)
    assert budget.delay(5.05, 0.2) == 0  # one came back (counted on a margin after its time)
    assert budget.delay(1.0, 0.0) == 0  # a reserve of 0 spends the bucket to its last request


def test_refills_are_learned_from_remaining_over_time_and_reset():
    budget = RateBudget()
    budget.observe(seen(50, 1000), now=0.0)
    budget.observe(seen(49, 400), now=0.6)  # Reset counts down: refills are at least 1 s apart
    assert budget.interval == 1.0
    budget.observe(seen(51, 1000), now=1.0)  # the refill at 1.0 brought back 3 (51 - 49 + this call's 1)
    assert budget.refill == 3
    assert budget.refill_rate == pytest.approx(3.0)
    # Predicted between answers: 51 now, 54 after the next refill, never above the limit.
    assert budget.remaining(1.5) == 51
    assert budget.remaining(2.1) == 54
    assert budget.remaining(100.0) == 100


def test_others_spending_lowers_the_estimate_and_is_seen_in_remaining():
    budget = RateBudget()
    budget.observe(seen(30, 1000), now=0.0)
    # Another process spent 10 meanwhile: the next answer says so, and the reserve holds against it.
    budget.observe(seen(19, 900), now=0.1)
    assert budget.remaining(0.2) == 19
    assert budget.delay(0.2, 0.2) == pytest.approx(0.8 + 1.0 + 0.05)  # two refills: 19 - 1 >= 20 needs 2
    assert budget.lowest_remaining == 19
    assert budget.spare(0.2, 0.2) == pytest.approx(-1)


def test_a_wait_for_several_refills_counts_them():
    budget = RateBudget()
    budget.observe(seen(0, 5000), now=0.0)  # a 429: empty
    # 20 + 1 needed, one back per refill: 21 refills, the first at 5 s, then every 5 s.
    assert budget.delay(0.0, 0.2) == pytest.approx(5 + 20 * 5 + 0.05)


def test_a_429_tells_what_is_left_but_not_how_often_requests_come_back():
    budget = RateBudget()
    budget.observe(seen(60, 1000), now=0.0)
    # An endpoint's own limit: an hour's wait, while the bucket still holds 59.
    budget.observe(seen(59, 3_600_000), now=0.1, limited=True)
    assert budget.interval == 1.0
    assert budget.remaining(0.2) == 59
    assert budget.delay(0.2, 0.2) == 0
