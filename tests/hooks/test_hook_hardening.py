"""The hook's hardening, end to end against the simulator: bounded time, scrubbed secrets, only 2xx."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_mimecast.errors import (
    MimecastAuthenticationError,
    MimecastError,
    MimecastInvalidResponseError,
    MimecastRateLimitError,
    MimecastTransportError,
)
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.hooks.tokens import TOKEN_CACHE, token_key
from airflow_provider_mimecast.testing.simulator import GET_IMPORT_STATUS_PATH, TOKEN_PATH, Fault
from tests.conftest import CREDENTIALS, SECRETS, oauth_connection


def test_an_error_page_echoing_the_bearer_token_never_shows_it(connections):
    import_id = connections.create_import()
    # Mimecast's error shape, its message quoting the request's headers (Authorization among them).
    connections.inject(Fault("echo", path=GET_IMPORT_STATUS_PATH, status=400, as_json=True, times=5))
    hook = MimecastHook(max_retries=0)
    with pytest.raises(MimecastError) as caught:
        hook.get_import_status(import_id)
    token = TOKEN_CACHE.peek(token_key(hook.settings))
    assert token
    assert "authorization" in str(caught.value).lower()  # the echo reached the message...
    assert token not in str(caught.value)  # ...without the token
    assert "Bearer ***" in str(caught.value)


@pytest.mark.parametrize("conn_id", ["mimecast_default", "mimecast_hmac"])
def test_a_fail_message_echoing_the_credentials_never_shows_them(connections, conn_id):
    connections.inject(Fault("echo", as_json=True, status=401, times=5))
    with pytest.raises(MimecastAuthenticationError) as caught:
        MimecastHook(conn_id, max_retries=0).get_import_status("some-id")
    assert not [secret for secret in SECRETS if secret in str(caught.value)]


def test_a_rate_limit_longer_than_a_task_may_sleep_raises_at_once(connections, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(connections.url, max_rate_limit_wait=1)
    )
    import_id = connections.create_import()
    connections.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=3_600_000))
    started = time.monotonic()
    with pytest.raises(MimecastRateLimitError, match="max_rate_limit_wait") as caught:
        MimecastHook().get_import_status(import_id)
    assert time.monotonic() - started < 1
    assert caught.value.retry_after == 3600
    assert connections.request_counts()[GET_IMPORT_STATUS_PATH] == 1


def test_a_rate_limit_within_the_bound_is_waited_out(connections, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(connections.url, max_rate_limit_wait=1)
    )
    import_id = connections.create_import()
    connections.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=300))
    [status] = MimecastHook().get_import_status(import_id)
    assert status.id == import_id


def test_a_trickling_server_cannot_hold_a_call_past_its_timeout(connections):
    import_id = connections.create_import()
    connections.inject(Fault("trickle", path=GET_IMPORT_STATUS_PATH, delay=0.2))
    started = time.monotonic()
    with pytest.raises(MimecastTransportError, match="no complete answer within 1 s"):
        MimecastHook(timeout=1, max_retries=0).get_import_status(import_id)
    assert time.monotonic() - started < 2.5


async def test_a_trickling_server_cannot_hold_an_async_call_either(connections):
    import_id = connections.create_import()
    connections.inject(Fault("trickle", path=GET_IMPORT_STATUS_PATH, delay=0.2))
    started = time.monotonic()
    with pytest.raises(MimecastTransportError, match="no complete answer within 1 s"):
        await MimecastHook(timeout=1, max_retries=0).aget_import_status(import_id)
    assert time.monotonic() - started < 2.5


def test_a_redirect_carrying_an_envelope_is_not_data(connections):
    import_id = connections.create_import()
    connections.inject(Fault("redirect", path=GET_IMPORT_STATUS_PATH))
    with pytest.raises(MimecastInvalidResponseError, match="302"):
        MimecastHook(max_retries=0).get_import_status(import_id)


def test_a_host_without_scheme_fails_at_once_with_the_fix(simulator, monkeypatch):
    host = simulator.url.removeprefix("http://")
    connection = {
        "conn_type": "mimecast",
        "host": host,
        "login": CREDENTIALS.client_id,
        "password": CREDENTIALS.client_secret,
    }
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", json.dumps(connection))
    started = time.monotonic()
    with pytest.raises(MimecastTransportError, match=f"set the host to http://{host}") as caught:
        MimecastHook(retry_delay=1).get_import_status("some-id")
    assert not caught.value.transient
    assert time.monotonic() - started < 3  # not retried: five retries would back off for ~30 s
    assert simulator.request_counts().get(TOKEN_PATH, 0) == 0  # a TLS hello is no HTTP request


def test_a_bare_401_renews_the_token_once_in_a_sync_call(connections):
    import_id = connections.create_import()
    connections.inject(Fault("bare_401", path=GET_IMPORT_STATUS_PATH))
    [status] = MimecastHook(max_retries=0).get_import_status(import_id)
    assert status.id == import_id
    assert [r.response_status for r in connections.requests_to(TOKEN_PATH)] == [200, 200]
    assert [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)] == [401, 200]


def test_a_bare_401_to_the_renewed_token_too_is_an_authentication_error(connections):
    import_id = connections.create_import()
    connections.inject(Fault("bare_401", path=GET_IMPORT_STATUS_PATH, times=2))
    with pytest.raises(MimecastAuthenticationError, match="invalid_token"):
        MimecastHook(max_retries=3).get_import_status(import_id)  # not retried: credentials, not luck
    assert len(connections.requests_to(TOKEN_PATH)) == 2  # renewed once, not in a loop
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 2


@pytest.mark.parametrize("path", [GET_IMPORT_STATUS_PATH, TOKEN_PATH])
def test_a_rate_limit_reset_of_zero_waits_a_floor_that_grows(connections, path):
    import_id = connections.create_import()
    connections.inject(Fault("rate_limit", path=path, reset_ms=0, times=2))
    started = time.monotonic()
    [status] = MimecastHook(max_retries=5).get_import_status(import_id)
    assert status.id == import_id
    assert [r.response_status for r in connections.requests_to(path)] == [429, 429, 200]
    assert time.monotonic() - started >= 0.25 + 0.5  # never re-sent at once


def test_a_retryable_fail_entry_is_retried_by_a_sync_call(connections):
    import_id = connections.create_import()
    connections.inject(Fault("retryable_fail", path=GET_IMPORT_STATUS_PATH))
    [status] = MimecastHook(max_retries=1, retry_delay=0.01).get_import_status(import_id)
    assert status.id == import_id
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 2


async def test_a_rate_limit_reset_of_zero_waits_the_floor_in_async_calls_too(connections):
    import_id = connections.create_import()
    connections.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=0, times=2))
    started = time.monotonic()
    [status] = await MimecastHook(max_retries=5).aget_import_status(import_id)
    assert status.id == import_id
    assert [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)] == [429, 429, 200]
    assert time.monotonic() - started >= 0.25 + 0.5
