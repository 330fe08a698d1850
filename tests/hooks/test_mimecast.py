"""MimecastHook against the simulator over real HTTP."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
from airflow.providers.common.compat.sdk import redact

from airflow_provider_mimecast.errors import (
    MimecastApiError,
    MimecastAuthenticationError,
    MimecastConfigurationError,
    MimecastError,
    MimecastGroupLookupError,
    MimecastInvalidResponseError,
    MimecastMissingImportsError,
    MimecastRateLimitError,
    MimecastServerError,
    MimecastTokenExpiredError,
    MimecastTransportError,
)
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.testing.simulator import (
    FIND_GROUPS_PATH,
    GET_IMPORT_STATUS_PATH,
    IMPORT_USERS_PATH,
    TOKEN_PATH,
    Fault,
    MimecastSimulator,
)
from tests.canned import canned_server
from tests.conftest import SECRETS, hmac_connection, oauth_connection, wait_until

CONN_IDS = ["mimecast_default", "mimecast_hmac"]


def fast_hook(conn_id: str = "mimecast_default", **kwargs) -> MimecastHook:
    kwargs.setdefault("retry_delay", 0.01)
    return MimecastHook(conn_id, **kwargs)


@pytest.mark.parametrize("conn_id", CONN_IDS)
def test_status_of_many_imports_in_one_request_in_the_order_asked(connections, conn_id):
    first = connections.create_import(total_users=3, pending_seconds=0, processing_seconds=0)
    second = connections.create_import(total_users=5, pending_seconds=100)
    statuses = fast_hook(conn_id).get_import_status([second, first])
    assert [s.id for s in statuses] == [second, first]
    assert [(s.status, s.total_users) for s in statuses] == [("pending", 5), ("completed", 3)]
    sent = connections.requests_to(GET_IMPORT_STATUS_PATH)
    assert len(sent) == 1
    assert json.loads(sent[0].body) == {"data": [{"id": second}, {"id": first}]}


@pytest.mark.parametrize("conn_id", CONN_IDS)
async def test_async_twin_reads_the_same_status(connections, conn_id):
    import_id = connections.create_import(total_users=4, pending_seconds=0, processing_seconds=0)
    [status] = await fast_hook(conn_id).aget_import_status(import_id)
    assert (status.id, status.status, status.successful_imported_users) == (import_id, "completed", 4)


async def test_token_is_cached_and_shared_by_sync_and_async_hooks(connections):
    import_id = connections.create_import()
    fast_hook().get_import_status(import_id)
    fast_hook().get_import_status(import_id)
    await fast_hook().aget_import_status(import_id)
    assert len(connections.requests_to(TOKEN_PATH)) == 1
    tokens = {r.headers["authorization"] for r in connections.requests_to(GET_IMPORT_STATUS_PATH)}
    assert len(tokens) == 1


def test_token_is_refreshed_before_it_expires(monkeypatch):
    # A 2 s token is renewed after 1 s: the margin is 60 s, or half the lifetime for short tokens.
    with MimecastSimulator(token_ttl_seconds=2) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        import_id = sim.create_import()
        before_issue = time.monotonic()
        fast_hook().get_import_status(import_id)
        fast_hook().get_import_status(import_id)
        assert len(sim.requests_to(TOKEN_PATH)) == 1

        def refreshed() -> bool:
            fast_hook().get_import_status(import_id)
            return len(sim.requests_to(TOKEN_PATH)) == 2

        wait_until(refreshed, timeout=5, interval=0.05)
        assert time.monotonic() - before_issue >= 1.0, "renewed before half the token's lifetime"
        # Every call was answered 200: no request went out with the expired token.
        assert all(r.response_status == 200 for r in sim.requests)


def test_expired_token_is_renewed_once_and_the_call_retried(connections):
    import_id = connections.create_import()
    hook = fast_hook()
    hook.get_import_status(import_id)
    connections.expire_tokens()
    assert hook.get_import_status(import_id)[0].id == import_id
    assert len(connections.requests_to(TOKEN_PATH)) == 2
    assert [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)] == [200, 401, 200]


def test_only_one_reauthentication_per_attempt(connections):
    import_id = connections.create_import()
    connections.inject(Fault("token_expired", path=GET_IMPORT_STATUS_PATH, times=2))
    with pytest.raises(MimecastTokenExpiredError, match="token expired"):
        fast_hook().get_import_status(import_id)
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 2


async def test_a_token_the_server_no_longer_knows_is_replaced_once(monkeypatch):
    # Seen in a real triggerer: the simulator restarted on the same URL while Airflow kept running, and
    # the process-wide cache kept offering a token the new server refused (401 invalid_token), failing
    # every wait of the connection until the cached token aged out.
    with MimecastSimulator() as first:
        port = int(first.url.rsplit(":", 1)[1])
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(first.url))
        fast_hook().get_import_status(first.create_import())
    with MimecastSimulator(port=port) as second:
        sync_id, async_id = second.create_import(), second.create_import()
        assert [s.id for s in fast_hook().get_import_status(sync_id)] == [sync_id]
        assert [s.id for s in await fast_hook().aget_import_status(async_id)] == [async_id]
        assert [r.response_status for r in second.requests_to(GET_IMPORT_STATUS_PATH)] == [401, 200, 200]
        assert len(second.requests_to(TOKEN_PATH)) == 1


def test_a_refused_bearer_token_is_replaced_only_once_per_attempt(connections):
    connections.inject(Fault("invalid_signature", path=GET_IMPORT_STATUS_PATH, times=2))
    with pytest.raises(MimecastAuthenticationError, match="authentication failed"):
        fast_hook(max_retries=0).get_import_status(connections.create_import())
    assert [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)] == [401, 401]
    assert len(connections.requests_to(TOKEN_PATH)) == 2


@pytest.mark.parametrize("conn_id", CONN_IDS)
def test_rate_limit_waits_at_least_the_reset(connections, conn_id):
    import_id = connections.create_import()
    connections.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=600))
    started = time.monotonic()
    assert fast_hook(conn_id).get_import_status(import_id)[0].id == import_id
    assert time.monotonic() - started >= 0.6
    assert [r.response_status for r in connections.requests_to(GET_IMPORT_STATUS_PATH)] == [429, 200]


def test_rate_limit_gives_up_after_max_retries(connections):
    connections.inject(Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=10, times=10))
    with pytest.raises(MimecastRateLimitError, match="HTTP 429"):
        fast_hook(max_retries=2).get_import_status("any")
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_up_to_max_retries(connections, status):
    connections.inject(Fault("server_error", path=GET_IMPORT_STATUS_PATH, status=status, times=10))
    with pytest.raises(MimecastServerError, match=f"HTTP {status}"):
        fast_hook(max_retries=3).get_import_status("any")
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 4


def test_hmac_retries_are_signed_afresh(connections):
    # The simulator rejects a reused x-mc-req-id, so success after a 503 proves a fresh signature.
    import_id = connections.create_import()
    connections.inject(Fault("server_error", path=GET_IMPORT_STATUS_PATH, status=503))
    assert fast_hook("mimecast_hmac").get_import_status(import_id)[0].id == import_id
    first, second = connections.requests_to(GET_IMPORT_STATUS_PATH)
    assert (first.response_status, second.response_status) == (503, 200)
    assert first.headers["x-mc-req-id"] != second.headers["x-mc-req-id"]
    assert first.headers["authorization"] != second.headers["authorization"]


def test_proxy_html_is_retried_then_reported_with_an_excerpt(connections):
    connections.inject(Fault("malformed", path=GET_IMPORT_STATUS_PATH, times=10))
    with pytest.raises(MimecastServerError, match="502 Bad Gateway"):
        fast_hook(max_retries=1).get_import_status("any")
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 2


def test_an_empty_200_is_not_an_envelope_and_not_retried(connections):
    connections.inject(Fault("empty", path=GET_IMPORT_STATUS_PATH))
    with pytest.raises(MimecastInvalidResponseError, match=r"HTTP 200.*empty body.*x-mc-req-id"):
        fast_hook().get_import_status("any")
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 1


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        ("invalid_signature", MimecastAuthenticationError, "regional base URL"),
        ("binding_expired", MimecastAuthenticationError, "binding expired"),
    ],
)
def test_authentication_errors_are_not_retried_and_carry_a_hint(connections, fault, error, text):
    connections.inject(Fault(fault, path=GET_IMPORT_STATUS_PATH))
    with pytest.raises(error, match=text):
        fast_hook("mimecast_hmac").get_import_status("any")
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 1


def test_unknown_import_is_a_fail_entry_naming_it_and_not_retried(connections):
    with pytest.raises(MimecastApiError, match="import 'no-such-import' err_import_not_found") as caught:
        fast_hook().get_import_status("no-such-import")
    assert caught.value.request_id and caught.value.request_id in str(caught.value)
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 1


def test_wrong_client_secret_is_an_authentication_error(simulator, monkeypatch):
    bad = json.loads(oauth_connection(simulator.url))
    bad["password"] = "wrong-client-secret"
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", json.dumps(bad))
    with pytest.raises(MimecastAuthenticationError, match="client secret") as caught:
        fast_hook().get_import_status("any")
    assert "wrong-client-secret" not in str(caught.value)
    assert len(simulator.requests_to(TOKEN_PATH)) == 1


def test_wrong_region_signature_is_an_authentication_error(simulator, monkeypatch):
    other_key = json.loads(hmac_connection(simulator.url))
    other_key["extra"]["app_key"] = "an-app-key-for-another-region"
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_HMAC", json.dumps(other_key))
    with pytest.raises(MimecastAuthenticationError, match="0004 Invalid Signature"):
        fast_hook("mimecast_hmac").get_import_status("any")


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_connections_are_retried_then_reported(monkeypatch, capfd):
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(f"http://127.0.0.1:{unused_port()}"))
    with pytest.raises(MimecastTransportError, match="ConnectError") as caught:
        fast_hook(max_retries=2).get_import_status("any")
    assert caught.value.request_sent is False
    # Airflow 3 hooks log through structlog to the console, which is where a task log reads them.
    assert capfd.readouterr().out.count("Connection refused") == 2


def test_a_read_timeout_is_retried_for_status_calls(connections):
    import_id = connections.create_import()
    connections.inject(Fault("latency", path=GET_IMPORT_STATUS_PATH, delay=1.0))
    assert fast_hook(timeout=0.3).get_import_status(import_id)[0].id == import_id
    # The simulator records the slow request once it has answered it, after the client gave up.
    wait_until(lambda: len(connections.requests_to(GET_IMPORT_STATUS_PATH)) >= 2)
    assert len(connections.requests_to(GET_IMPORT_STATUS_PATH)) == 2


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ({"host": "http://mimecast.example.com"}, "plain http"),
        ({"extra": {"auth_type": "hmac", "app_id": "x"}}, "'app_key' is required"),
        ({"extra": {"auth_type": "bearer"}}, "'auth_type' is 'bearer'"),
    ],
)
def test_bad_settings_fail_before_any_request(simulator, monkeypatch, connection, message):
    conn = {**json.loads(oauth_connection(simulator.url)), **connection}
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", json.dumps(conn))
    with pytest.raises(MimecastConfigurationError, match=message):
        fast_hook().get_import_status("any")
    assert simulator.requests == []


def test_bodies_are_real_json_with_json_headers(connections):
    with pytest.raises(MimecastApiError, match=r"'a-1'.*'b-2'"):
        fast_hook("mimecast_hmac").get_import_status(["a-1", "b-2"])
    [request] = connections.requests_to(GET_IMPORT_STATUS_PATH)
    assert json.loads(request.body) == {"data": [{"id": "a-1"}, {"id": "b-2"}]}
    assert request.headers["content-type"] == "application/json"


@pytest.mark.parametrize("conn_id", CONN_IDS)
def test_test_connection_succeeds(connections, conn_id):
    ok, message = fast_hook(conn_id).test_connection()
    assert ok, message
    assert "Mimecast Simulator" in message


def test_test_connection_reports_failures_without_raising(simulator, monkeypatch):
    bad = json.loads(oauth_connection(simulator.url))
    bad["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", json.dumps(bad))
    ok, message = fast_hook().test_connection()
    assert not ok and "authentication failed" in message and "not-the-secret" not in message
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", json.dumps({**bad, "host": "http://example.com"}))
    ok, message = MimecastHook().test_connection()
    assert not ok and "plain http" in message


def test_no_secret_reaches_logs_errors_or_reprs(connections, caplog, capfd):
    """Drive successes, retries and failures with both auth types, then scan everything a user could see."""
    seen: list[str] = []
    import_id = connections.create_import()
    with caplog.at_level(logging.DEBUG):
        for conn_id in CONN_IDS:
            hook = fast_hook(conn_id)
            connections.inject(
                Fault("server_error", path=GET_IMPORT_STATUS_PATH),
                Fault("rate_limit", path=GET_IMPORT_STATUS_PATH, reset_ms=10),
            )
            hook.get_import_status(import_id)
            seen += [repr(hook), repr(hook.settings), str(hook.test_connection())]
            for fault in ("invalid_signature", "token_expired", "malformed", "empty"):
                # A refused bearer token is replaced once (and the call retried) before the error shows.
                refused = fault in ("token_expired", "invalid_signature")
                times = 2 if refused and conn_id == "mimecast_default" else 1
                connections.inject(Fault(fault, path=GET_IMPORT_STATUS_PATH, times=times))
                with pytest.raises(MimecastError) as caught:
                    fast_hook(conn_id, max_retries=0).get_import_status(import_id)
                seen.append(str(caught.value))
    derived = [
        r.headers["authorization"].split(" ", 1)[1]
        for r in connections.requests
        if "authorization" in r.headers
    ]
    derived = [value.split(":", 1)[-1] for value in derived]  # bearer tokens and HMAC signatures
    assert derived
    output = capfd.readouterr()
    assert "retry" in output.out  # the retries above were logged, and that log is scanned
    text = "\n".join([*seen, caplog.text, output.out, output.err])
    for secret in (*SECRETS, *derived):
        assert secret not in text
    # Bearer tokens and the connection's secrets are registered with Airflow's masker, so task logs show
    # *** even if a library logs them; per-request signatures are not (see MimecastHook._api_request).
    tokens = [
        r.headers["authorization"][len("Bearer ") :]
        for r in connections.requests_to(GET_IMPORT_STATUS_PATH)
        if r.headers.get("authorization", "").startswith("Bearer ")
    ]
    assert tokens
    assert all(redact(value) == "***" for value in (*tokens, *SECRETS))


async def test_the_async_path_never_masks_from_the_event_loop_thread(connections, monkeypatch):
    """In Airflow 3's triggerer a sync mask_secret messages the supervisor from the event loop: it blocks the
    loop, or raises when another trigger's async message is in flight. Tokens and secrets are still masked."""
    import threading

    from airflow_provider_mimecast.hooks import masking

    loop_thread = threading.get_ident()
    sync_calls: list[int] = []
    real = masking.mask_secret

    def recording_mask_secret(value, *args):
        sync_calls.append(threading.get_ident())
        real(value, *args)

    monkeypatch.setattr(masking, "mask_secret", recording_mask_secret)
    import_id = connections.create_import()
    await fast_hook().aget_import_status(import_id)
    assert loop_thread not in sync_calls
    [token_request] = connections.requests_to(GET_IMPORT_STATUS_PATH)
    token = token_request.headers["authorization"][len("Bearer ") :]
    assert redact(token) == "***" and all(redact(secret) == "***" for secret in SECRETS[:1])


# ----------------------------------------------------------------------------- status_batch_size
@pytest.mark.parametrize("conn_id", CONN_IDS)
async def test_status_checks_send_at_most_status_batch_size_ids_per_request(connections, conn_id):
    ids = [connections.create_import(total_users=n + 1) for n in range(25)]
    asked = list(reversed(ids))
    statuses = fast_hook(conn_id).get_import_status(asked)
    assert [s.id for s in statuses] == asked
    assert [s.total_users for s in statuses] == list(range(25, 0, -1))
    assert connections.status_request_sizes() == [10, 10, 5]
    statuses = await fast_hook(conn_id).aget_import_status(asked)
    assert [s.id for s in statuses] == asked
    assert connections.status_request_sizes() == [10, 10, 5] * 2
    # One client for the whole async check, not one per batch.
    assert connections.connections_accepted <= 3


def test_an_account_allowed_more_ids_per_call_can_raise_status_batch_size(monkeypatch):
    with MimecastSimulator(max_status_ids=1000) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url, status_batch_size=1000))
        ids = [sim.create_import() for _ in range(2500)]
        assert [s.id for s in fast_hook().get_import_status(ids)] == ids
        assert sim.status_request_sizes() == [1000, 1000, 500]


# ----------------------------------------------------------------------------- answers that do not match
@pytest.mark.parametrize("conn_id", CONN_IDS)
async def test_an_import_left_out_of_the_answer_is_asked_for_again_alone(connections, conn_id):
    first, second, third = (connections.create_import(total_users=n) for n in (1, 2, 3))
    for asynchronous in (False, True):
        connections.reset_counts()
        connections.inject(Fault("omit_ids", path=GET_IMPORT_STATUS_PATH, import_ids=(second,)))
        hook = fast_hook(conn_id)
        asked = [first, second, third]
        statuses = await hook.aget_import_status(asked) if asynchronous else hook.get_import_status(asked)
        assert [(s.id, s.total_users) for s in statuses] == [(first, 1), (second, 2), (third, 3)]
        assert connections.status_request_sizes() == [3, 1]
        assert json.loads(connections.requests_to(GET_IMPORT_STATUS_PATH)[1].body) == {
            "data": [{"id": second}]
        }


async def test_an_import_left_out_twice_is_an_error_naming_it_never_a_success(connections):
    first, second = connections.create_import(), connections.create_import(pending_seconds=0)
    connections.inject(Fault("omit_ids", path=GET_IMPORT_STATUS_PATH, import_ids=(second,), times=2))
    with pytest.raises(MimecastMissingImportsError, match=second) as caught:
        fast_hook().get_import_status([first, second])
    assert caught.value.import_ids == (second,)
    assert [s.id for s in caught.value.statuses] == [first]
    assert connections.status_request_sizes() == [2, 1]
    connections.inject(Fault("omit_ids", path=GET_IMPORT_STATUS_PATH, import_ids=(second,), times=2))
    with pytest.raises(MimecastMissingImportsError, match=second):
        await fast_hook().aget_import_status([first, second])
    assert connections.status_request_sizes() == [2, 1] * 2


def test_an_import_nobody_asked_for_is_ignored(connections):
    asked = connections.create_import(pending_seconds=100)
    unasked = connections.create_import(pending_seconds=0, processing_seconds=0)
    connections.inject(Fault("extra_ids", path=GET_IMPORT_STATUS_PATH, import_ids=(unasked,)))
    connections.inject(Fault("extra_ids", path=GET_IMPORT_STATUS_PATH))  # one in no store at all
    for _ in range(2):
        [status] = fast_hook().get_import_status(asked)
        assert (status.id, status.status) == (asked, "pending")
    assert connections.status_request_sizes() == [1, 1]


# ----------------------------------------------------------------------------- any endpoint
@pytest.mark.parametrize("conn_id", CONN_IDS)
async def test_call_reaches_any_endpoint_signed_or_authenticated(connections, conn_id):
    hook = fast_hook(conn_id)
    document = hook.call(FIND_GROUPS_PATH, {"query": "EMEA"}, meta={"pagination": {"pageSize": 5}})
    assert [f["description"] for f in document["data"][0]["folders"]] == ["EMEA"]
    assert document["meta"]["pagination"]["pageSize"] == 5
    [request] = connections.requests_to(FIND_GROUPS_PATH)
    assert json.loads(request.body) == {"meta": {"pagination": {"pageSize": 5}}, "data": [{"query": "EMEA"}]}
    assert request.response_status == 200  # the simulator checked the signature of this path
    document = await hook.acall("/api/account/get-account")
    assert document["data"][0]["accountName"] == "Mimecast Simulator"


@pytest.mark.parametrize("call_kind", ["sync", "async"])
async def test_call_retries_after_the_server_may_have_acted_only_when_told_it_is_idempotent(
    connections, call_kind
):
    hook = fast_hook()

    async def call(**kwargs):
        if call_kind == "sync":
            return hook.call("/api/account/get-account", **kwargs)
        return await hook.acall("/api/account/get-account", **kwargs)

    connections.inject(Fault("server_error", path="/api/account/get-account", times=2))
    with pytest.raises(MimecastServerError):
        await call()
    assert len(connections.requests_to("/api/account/get-account")) == 1
    assert (await call(idempotent=True))["data"]
    assert len(connections.requests_to("/api/account/get-account")) == 3
    # A 429 was not executed: retried whatever the call, unless the caller handles it.
    connections.inject(Fault("rate_limit", path="/api/account/get-account", reset_ms=10))
    assert (await call())["data"]
    connections.inject(Fault("rate_limit", path="/api/account/get-account", reset_ms=10))
    with pytest.raises(MimecastRateLimitError):
        await call(retry_rate_limits=False)
    assert len(connections.requests_to("/api/account/get-account")) == 6


def test_call_bounds_a_slow_answer_and_repeats_it_only_when_idempotent(connections):
    connections.inject(Fault("latency", path="/api/account/get-account", delay=1.0, times=2))
    with pytest.raises(MimecastTransportError, match=r"(?i)timed? ?out"):
        fast_hook(timeout=0.3).call("/api/account/get-account")
    assert fast_hook(timeout=0.3).call("/api/account/get-account", idempotent=True)["data"]
    wait_until(lambda: len(connections.requests_to("/api/account/get-account")) >= 3)


def test_call_maps_errors_as_the_built_in_calls_do(connections):
    with pytest.raises(MimecastApiError, match="HTTP 404"):
        fast_hook().call("/api/no/such-endpoint", idempotent=True)
    assert len(connections.requests_to("/api/no/such-endpoint")) == 1
    connections.inject(Fault("server_error", path=FIND_GROUPS_PATH, status=403))
    with pytest.raises(MimecastAuthenticationError, match=r"Directories \| Groups \| Edit"):
        fast_hook().find_groups("Sales")


def test_call_uploads_content_with_data_in_x_mc_arg(connections):
    document = fast_hook("mimecast_hmac").call(
        IMPORT_USERS_PATH,
        {"groupId": "grp-1", "fileType": "csv"},
        content=b"email,name\nada@example.com,Ada\n",
        content_type="text/csv",
    )
    [request] = connections.requests_to(IMPORT_USERS_PATH)
    assert json.loads(request.headers["x-mc-arg"]) == {"data": [{"groupId": "grp-1", "fileType": "csv"}]}
    assert request.body == b"email,name\nada@example.com,Ada\n"
    assert connections.import_ids() == [document["data"][0]["id"]]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"path": "https://elsewhere.example/api/x"}, "path must be an endpoint path"),
        ({"path": "api/account/get-account"}, "path must be an endpoint path"),
        ({"path": "/api/x?query=1"}, "path must be an endpoint path"),
        ({"path": "/api/x y"}, "path must be an endpoint path"),
        ({"path": TOKEN_PATH}, "fetches tokens itself"),
        ({"path": "/api/x", "data": "query"}, "data must be an object or a list of objects"),
        ({"path": "/api/x", "data": [{"id": object()}]}, "data cannot be sent as JSON"),
        ({"path": "/api/x", "data": {"size": float("nan")}}, "data cannot be sent as JSON"),
        ({"path": "/api/x", "meta": ["pagination"]}, "meta must be an object"),
        ({"path": "/api/x", "content": "text"}, "content must be bytes"),
        ({"path": "/api/x", "content": b"x", "content_type": "text/csv\r\nX-Evil: 1"}, "content_type"),
    ],
)
async def test_call_refuses_bad_arguments_before_any_request(connections, arguments, message):
    with pytest.raises(MimecastConfigurationError, match=message):
        fast_hook().call(**arguments)
    with pytest.raises(MimecastConfigurationError, match=message):
        await fast_hook().acall(**arguments)
    assert connections.requests == []


# ----------------------------------------------------------------------------- directory groups
def test_find_groups_follows_every_page(connections):
    team = connections.add_group("Team")
    ids = [connections.add_group(f"Team {n}", parent_id=team, user_count=n) for n in range(6)]
    groups = fast_hook().find_groups("team", page_size=2)
    assert [g.id for g in groups] == [team, *ids]
    assert (groups[0].folder_count, groups[3].user_count, groups[3].parent_id) == (6, 2, team)
    pages = [json.loads(r.body)["meta"]["pagination"] for r in connections.requests_to(FIND_GROUPS_PATH)]
    assert len(pages) == 4 and "pageToken" not in pages[0] and all("pageToken" in p for p in pages[1:])


def test_find_groups_stops_at_its_page_bound(connections):
    for n in range(5):
        connections.add_group(f"Team {n}")
    with pytest.raises(MimecastGroupLookupError, match="more than 3 pages"):
        fast_hook().find_groups("Team", page_size=1, max_pages=3)
    assert len(connections.requests_to(FIND_GROUPS_PATH)) == 3


def test_find_groups_refuses_pages_that_never_end(monkeypatch):
    page = {"meta": {"status": 200, "pagination": {"next": "again"}}, "data": [{"folders": []}], "fail": []}
    with canned_server({FIND_GROUPS_PATH: page}) as url:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(url))
        with pytest.raises(MimecastInvalidResponseError, match="same page token twice"):
            fast_hook().find_groups("Sales")


def test_find_groups_filters_by_source(connections):
    ldap = connections.add_group("Sales (LDAP)", source="ldap")
    assert [g.id for g in fast_hook().find_groups("Sales", source="ldap")] == [ldap]
    with pytest.raises(MimecastConfigurationError, match="source must be"):
        fast_hook().find_groups("Sales", source="azure")


def test_find_group_matches_the_name_exactly_and_lists_candidates_otherwise(connections):
    emea = next(g for g in connections.groups() if g.name == "EMEA")
    emea_sales = next(g for g in connections.groups() if g.name == "Sales" and g.parent_id == emea.id)
    assert fast_hook().find_group("EMEA").id == emea.id
    assert fast_hook().find_group("EMEA/Sales").id == emea_sales.id
    with pytest.raises(MimecastGroupLookupError, match=r"2 Mimecast groups match 'Sales'.*'Sales' \(id eNo1"):
        fast_hook().find_group("Sales")
    with pytest.raises(MimecastGroupLookupError, match=r"named exactly 'sales'.*the search found 'Sales'"):
        fast_hook().find_group("sales")
    with pytest.raises(MimecastGroupLookupError, match="found no group at all"):
        fast_hook().find_group("Marketing")


async def test_both_clients_send_a_user_agent(connections):
    """Some gateways refuse requests without one; the sync path always sent requests' own."""
    import_id = connections.create_import()
    fast_hook().get_import_status(import_id)
    await fast_hook().aget_import_status(import_id)
    agents = [r.headers.get("user-agent", "") for r in connections.requests_to(GET_IMPORT_STATUS_PATH)]
    assert [agent.split("/")[0] for agent in agents] == ["python-requests", "python-httpx"]
