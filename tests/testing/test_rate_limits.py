"""The simulator's rate limit: one refilling bucket per API user, as Mimecast documents it."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import pytest

from airflow_provider_mimecast.testing.simulator import (
    RECORDED_BUCKET,
    Bucket,
    Fault,
    MimecastSimulator,
    main,
)
from airflow_provider_mimecast.testing.simulator.rate_limits import RateLimiter
from tests.testing.test_simulator import bearer, signed

ACCOUNT = "/api/account/get-account"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_is_spent_one_request_at_a_time_and_refilled_on_its_ticks() -> None:
    clock = FakeClock()
    limiter = RateLimiter(Bucket(limit=3, refill=2, reset_ms=5000), clock)
    assert [limiter.take("ada").remaining for _ in range(3)] == [2, 1, 0]
    empty = limiter.take("ada")
    assert (empty.exceeded, empty.remaining, empty.reset_ms) == (True, 0, 5000)
    clock.now += 4.0
    assert limiter.take("ada").reset_ms == 1000  # counts down to the next refill with wall time
    clock.now += 1.0  # one tick: two requests come back
    assert [limiter.take("ada").exceeded for _ in range(3)] == [False, False, True]
    clock.now += 60.0  # twelve ticks would add 24: never above the limit
    assert limiter.remaining("ada") == 3


def test_each_api_user_has_a_bucket_of_its_own() -> None:
    limiter = RateLimiter(Bucket(limit=1, refill=1, reset_ms=1000), FakeClock())
    assert not limiter.take("ada").exceeded
    assert limiter.take("ada").exceeded
    assert not limiter.take("bob").exceeded


@pytest.mark.parametrize("bucket", [Bucket(0, 1, 1), Bucket(1, 0, 1), Bucket(1, 1, 0), Bucket(1, 1, 1.5)])  # type: ignore[arg-type]
def test_a_bucket_that_cannot_meter_is_refused(bucket: Bucket) -> None:
    with pytest.raises(ValueError, match="whole number of 1 or more"):
        RateLimiter(bucket)


def test_every_answer_carries_the_headers_and_an_empty_bucket_executes_nothing() -> None:
    with (
        MimecastSimulator(rate_limit=2, rate_refill=1, rate_reset_ms=60_000) as sim,
        httpx.Client(base_url=sim.url, verify=False) as client,
    ):
        headers = bearer(client)
        first = client.post(ACCOUNT, headers=headers)
        assert first.status_code == 200
        assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == ("2", "1")
        assert 0 < int(first.headers["x-ratelimit-reset"]) <= 60_000
        refused = client.post(
            "/api/user/get-import-status", json={"data": []}, headers={"Authorization": "x"}
        )
        assert refused.status_code == 401  # an error answer carries them too (another API user's bucket)
        assert "x-ratelimit-remaining" in refused.headers
        assert client.post(ACCOUNT, headers=headers).headers["x-ratelimit-remaining"] == "0"
        upload = client.post(
            "/api/user/import-users",
            content=b"email,name\nada@example.com,Ada\n",
            headers={**headers, "x-mc-arg": '{"data": [{"groupId": "g", "fileType": "csv"}]}'},
        )
        assert upload.status_code == 429
        assert upload.headers["x-ratelimit-remaining"] == "0"
        assert sim.import_ids() == []  # not executed
        assert sim.rate_remaining() == 0


def test_every_token_of_one_client_id_shares_one_bucket_and_an_hmac_key_has_its_own() -> None:
    with (
        MimecastSimulator(rate_limit=3, rate_refill=1, rate_reset_ms=60_000) as sim,
        httpx.Client(base_url=sim.url, verify=False) as client,
    ):
        one, two = bearer(client), bearer(client)
        assert one != two
        assert client.post(ACCOUNT, headers=one).headers["x-ratelimit-remaining"] == "2"
        assert client.post(ACCOUNT, headers=two).headers["x-ratelimit-remaining"] == "1"
        assert client.post(ACCOUNT, headers=signed(ACCOUNT)).headers["x-ratelimit-remaining"] == "2"
        assert (sim.rate_remaining("oauth2"), sim.rate_remaining("hmac")) == (1, 2)


def test_the_bucket_refills_and_can_be_changed_while_serving() -> None:
    with (
        MimecastSimulator(rate_limit=1, rate_refill=1, rate_reset_ms=100) as sim,
        httpx.Client(base_url=sim.url, verify=False) as client,
    ):
        headers = bearer(client)
        assert client.post(ACCOUNT, headers=headers).status_code == 200
        limited = client.post(ACCOUNT, headers=headers)
        assert limited.status_code == 429
        assert 0 < int(limited.headers["x-ratelimit-reset"]) <= 100
        sim.rate_limit_for(0)  # the forced window is separate from the bucket
        time.sleep(int(limited.headers["x-ratelimit-reset"]) / 1000 + 0.01)
        assert client.post(ACCOUNT, headers=headers).status_code == 200
        sim.set_rate_limit(RECORDED_BUCKET)
        answer = client.post(ACCOUNT, headers=headers)
        assert (answer.headers["x-ratelimit-limit"], answer.headers["x-ratelimit-remaining"]) == (
            "800",
            "799",
        )
        assert 0 < int(answer.headers["x-ratelimit-reset"]) <= 5000
        assert sim.rate_bucket == Bucket(800, 1, 5000)


def test_a_rate_limit_fault_spends_nothing() -> None:
    with MimecastSimulator(rate_limit=5) as sim, httpx.Client(base_url=sim.url, verify=False) as client:
        headers = bearer(client)
        sim.inject(Fault("rate_limit", path=ACCOUNT))
        assert client.post(ACCOUNT, headers=headers).status_code == 429
        assert client.post(ACCOUNT, headers=headers).headers["x-ratelimit-remaining"] == "4"


def test_cli_meters_with_the_recorded_preset_and_overrides() -> None:
    command = [sys.executable, "-m", "airflow_provider_mimecast.testing.simulator", "--port", "0"]
    command += ["--recorded-rate-limit", "--rate-limit", "50"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = re.fullmatch(r"Mimecast simulator listening on (\S+)\n", process.stdout.readline())
        assert url, "no URL printed"
        assert (
            process.stdout.readline() == "Rate limit per API user: 50 requests, 1 added back every 5000 ms\n"
        )
        with httpx.Client(base_url=url.group(1), verify=False) as client:
            answer = client.post(ACCOUNT, headers=bearer(client))
            assert answer.headers["x-ratelimit-remaining"] == "49"
    finally:
        process.terminate()
        process.communicate(timeout=5)


def test_cli_refuses_a_bucket_that_cannot_meter(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--rate-refill", "0"])
    assert "refill must be a whole number of 1 or more" in capsys.readouterr().err
