"""Tests for the local Mimecast simulator, over real HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from airflow_provider_mimecast.signing import hmac_headers, sign_request
from airflow_provider_mimecast.testing.simulator import (
    DEFAULT_CREDENTIALS,
    Fault,
    MimecastSimulator,
    SimulatorCredentials,
    main,
)

STATUS = "/api/user/get-import-status"
IMPORT = "/api/user/import-users"
ACCOUNT = "/api/account/get-account"
TOKEN = "/oauth/token"
CREDS = DEFAULT_CREDENTIALS
CSV_OK = b"emailAddress,name\nada@example.com,Ada\nbob@example.org,Bob\n"


@pytest.fixture
def sim() -> Iterator[MimecastSimulator]:
    with MimecastSimulator(pending_seconds=0.05, processing_seconds=0.05) as simulator:
        yield simulator


@pytest.fixture
def client(sim: MimecastSimulator) -> Iterator[httpx.Client]:
    with http_client(sim.url) as http:
        yield http


def http_client(url: str) -> httpx.Client:
    # Plain HTTP: skipping the CA bundle load keeps each client (and the suite) fast.
    return httpx.Client(base_url=url, timeout=5, verify=False)


def token_request(client: httpx.Client, **overrides: str) -> httpx.Response:
    form = {
        "client_id": CREDS.client_id,
        "client_secret": CREDS.client_secret,
        "grant_type": "client_credentials",
    }
    return client.post(TOKEN, data={**form, **overrides})


def bearer(client: httpx.Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_request(client).json()['access_token']}"}


def signed(path: str, **overrides: Any) -> dict[str, str]:
    return hmac_headers(
        access_key=CREDS.access_key,
        secret_key=CREDS.secret_key,
        app_id=CREDS.app_id,
        app_key=CREDS.app_key,
        uri=path,
        **overrides,
    )


def status_of(client: httpx.Client, *ids: str) -> httpx.Response:
    return client.post(STATUS, json={"data": [{"id": id_} for id_ in ids]}, headers=bearer(client))


def upload(client: httpx.Client, body: bytes = CSV_OK, **params: Any) -> httpx.Response:
    arg = {
        "groupId": "grp-1",
        "fileType": "csv",
        "clearGroup": False,
        "allowAddressMigration": False,
        **params,
    }
    headers = {**bearer(client), "x-mc-arg": json.dumps({"data": [arg]})}
    return client.post(IMPORT, content=body, headers=headers)


def error_code(response: httpx.Response) -> str:
    """The fail code, whichever of the API 1.0 and 2.0 shapes carries it."""
    entry = response.json()["fail"][0]
    return str(entry["errors"][0]["code"] if "errors" in entry else entry["code"])


# -- token endpoint and authentication ---------------------------------------------------------------


def test_token_is_issued_for_the_right_credentials(client: httpx.Client) -> None:
    response = token_request(client)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1799
    assert body["scope"] == ""
    assert re.fullmatch(r"[0-9a-f]{32}", body["access_token"])


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_token_is_refused(client: httpx.Client, overrides: dict[str, str], status: int, code: str) -> None:
    response = token_request(client, **overrides)
    assert response.status_code == status
    assert response.json() == {"meta": {"status": status}, "data": [], "fail": [response.json()["fail"][0]]}
    assert response.json()["fail"][0]["code"] == code


def test_credentials_hide_secrets_in_repr() -> None:
    text = repr(SimulatorCredentials("id", "s3cret", "ak", "c2VjcmV0", "app", "appkey"))
    assert "s3cret" not in text and "c2VjcmV0" not in text and "appkey" not in text


def test_bearer_token_authenticates(client: httpx.Client) -> None:
    response = client.post(ACCOUNT, json={"data": []}, headers=bearer(client))
    assert response.status_code == 200
    assert response.json()["data"][0]["accountCode"] == "CSIM0A0"
    assert response.json()["fail"] == []


def test_unknown_bearer_token_is_refused(client: httpx.Client) -> None:
    response = client.post(ACCOUNT, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.json()["fail"] == [{"code": "invalid_token", "message": "The access token is not valid"}]


def test_expire_tokens_expires_issued_tokens(sim: MimecastSimulator, client: httpx.Client) -> None:
    headers = bearer(client)
    sim.expire_tokens()
    response = client.post(ACCOUNT, headers=headers)
    assert response.status_code == 401
    assert response.json()["fail"][0]["code"] == "token_expired"
    assert client.post(ACCOUNT, headers=bearer(client)).status_code == 200


def test_tokens_expire_after_their_ttl() -> None:
    with MimecastSimulator(token_ttl_seconds=0) as sim, http_client(sim.url) as client:
        assert error_code(client.post(ACCOUNT, headers=bearer(client))) == "token_expired"


def test_hmac_signature_authenticates(client: httpx.Client) -> None:
    response = client.post(ACCOUNT, json={"data": []}, headers=signed(ACCOUNT))
    assert response.status_code == 200


def test_hmac_bad_signature_is_refused(client: httpx.Client) -> None:
    headers = signed(ACCOUNT)
    headers["Authorization"] = f"MC {CREDS.access_key}:{'A' * 27}="
    response = client.post(ACCOUNT, headers=headers)
    assert response.status_code == 401
    assert response.json()["fail"] == [
        {
            "errors": [
                {"code": "err_xdk_invalid_signature", "message": "0004 Invalid Signature", "retryable": False}
            ]
        }
    ]


def test_hmac_signature_for_another_path_is_refused(client: httpx.Client) -> None:
    assert error_code(client.post(ACCOUNT, headers=signed(STATUS))) == "err_xdk_invalid_signature"


def test_hmac_unknown_access_key_or_app_id_is_refused(client: httpx.Client) -> None:
    headers = signed(ACCOUNT)
    headers["Authorization"] = headers["Authorization"].replace(CREDS.access_key, "other-key")
    assert error_code(client.post(ACCOUNT, headers=headers)) == "err_xdk_invalid_signature"
    assert error_code(client.post(ACCOUNT, headers={**signed(ACCOUNT), "x-mc-app-id": "x"})) == (
        "err_xdk_invalid_app_id"
    )


def test_hmac_replayed_request_id_is_refused(client: httpx.Client) -> None:
    headers = signed(ACCOUNT)
    assert client.post(ACCOUNT, headers=headers).status_code == 200
    replay = client.post(ACCOUNT, headers=headers)
    assert replay.status_code == 401
    assert error_code(replay) == "err_xdk_duplicate_request_id"


def test_hmac_stale_date_is_refused(client: httpx.Client) -> None:
    stale = datetime.now(timezone.utc) - timedelta(hours=1)
    response = client.post(ACCOUNT, headers=signed(ACCOUNT, now=stale))
    assert response.status_code == 401
    assert error_code(response) == "err_xdk_invalid_signature"
    assert "x-mc-date" in response.json()["fail"][0]["errors"][0]["message"]


def test_hmac_unreadable_date_is_refused(client: httpx.Client) -> None:
    date, request_id = "yesterday", str(uuid.uuid4())
    signature = sign_request(
        secret_key=CREDS.secret_key, date=date, request_id=request_id, uri=ACCOUNT, app_key=CREDS.app_key
    )
    headers = {
        "x-mc-date": date,
        "x-mc-req-id": request_id,
        "x-mc-app-id": CREDS.app_id,
        "Authorization": f"MC {CREDS.access_key}:{signature}",
    }
    response = client.post(ACCOUNT, headers=headers)
    assert response.status_code == 401
    assert "x-mc-date" in response.json()["fail"][0]["errors"][0]["message"]


def test_hmac_missing_header_is_refused(client: httpx.Client) -> None:
    headers = signed(ACCOUNT)
    del headers["x-mc-req-id"]
    assert error_code(client.post(ACCOUNT, headers=headers)) == "err_xdk_invalid_signature"


def test_missing_authorization_is_refused(client: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Basic Zm9vOmJhcg=="}):
        response = client.post(ACCOUNT, headers=headers)
        assert response.status_code == 401
        assert error_code(response) == "err_xdk_missing_authorization"


def test_unknown_path_and_method(client: httpx.Client) -> None:
    response = client.post("/api/user/nope", headers=bearer(client))
    assert response.status_code == 404
    assert error_code(response) == "err_not_found"
    assert client.get(ACCOUNT).status_code == 405


# -- get-import-status --------------------------------------------------------------------------------


def test_import_moves_through_its_timeline(sim: MimecastSimulator, client: httpx.Client) -> None:
    import_id = sim.create_import(
        total_users=5, successful_imported_users=4, notify_email_address="n@x.example"
    )
    seen: list[str] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        item = status_of(client, import_id).json()["data"][0]
        if not seen or seen[-1] != item["status"]:
            seen.append(item["status"])
            assert item["successfulImportedUsers"] == (4 if item["status"] == "completed" else 0)
        if item["status"] == "completed":
            break
        time.sleep(0.005)
    assert seen == ["pending", "processing", "completed"]
    assert item["id"] == import_id
    assert item["totalUsers"] == 5
    assert item["importer"] == "admin@sim.example"
    assert item["notifyEmailAddress"] == "n@x.example"
    assert item["clearGroup"] is False and item["allowAddressMigration"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", item["created"])
    assert item["sourceFile"] and item["reportFile"]


def test_per_import_timeline_overrides_the_default(sim: MimecastSimulator, client: httpx.Client) -> None:
    slow = sim.create_import(pending_seconds=60)
    instant = sim.create_import(pending_seconds=0, processing_seconds=0)
    items = status_of(client, slow, instant).json()["data"]
    assert [item["status"] for item in items] == ["pending", "completed"]
    assert sim.import_ids() == [slow, instant]


def test_unknown_import_id_is_a_fail_entry(sim: MimecastSimulator, client: httpx.Client) -> None:
    known = sim.create_import()
    response = status_of(client, "eNo1missing", known)
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["data"]] == [known]
    assert body["fail"] == [
        {
            "key": {"id": "eNo1missing"},
            "errors": [
                {
                    "code": "err_import_not_found",
                    "message": "Import eNo1missing not found",
                    "retryable": False,
                }
            ],
        }
    ]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"data": []}', b'{"data": [{}]}', b'{"data": [{"id": 3}]}', b'{"data": "x"}'],
)
def test_get_import_status_validates_its_body(client: httpx.Client, body: bytes) -> None:
    response = client.post(STATUS, content=body, headers=bearer(client))
    assert response.status_code == 400
    error = response.json()["fail"][0]["errors"][0]
    assert (error["code"], error["field"], error["retryable"]) == ("err_validation_null", "id", False)


# -- import-users -------------------------------------------------------------------------------------


def test_import_users_counts_rows_and_rejects_bad_addresses(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    body = b"EmailAddress,name\nada@example.com,Ada\nnot-an-address,Bob\ncy@example.net,Cy\n"
    response = upload(client, body, notifyEmailAddress="ops@example.com", clearGroup=True)
    assert response.status_code == 200
    assert response.json()["fail"] == []
    import_id = response.json()["data"][0]["id"]
    assert sim.import_ids() == [import_id]
    assert len(import_id) >= 30
    first = status_of(client, import_id).json()["data"][0]
    assert (first["totalUsers"], first["successfulImportedUsers"]) == (3, 0)
    assert first["clearGroup"] is True and first["notifyEmailAddress"] == "ops@example.com"
    deadline = time.monotonic() + 3
    while (item := status_of(client, import_id).json()["data"][0])["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert (item["totalUsers"], item["successfulImportedUsers"]) == (3, 2)


def test_import_users_accepts_hmac_and_chunked_uploads(sim: MimecastSimulator, client: httpx.Client) -> None:
    arg = json.dumps({"data": [{"groupId": "grp-1", "fileType": "csv"}]})

    def chunks() -> Iterator[bytes]:
        yield CSV_OK[:10]
        yield CSV_OK[10:]

    response = client.post(IMPORT, content=chunks(), headers={**signed(IMPORT), "x-mc-arg": arg})
    assert response.status_code == 200, response.text
    assert sim.requests_to(IMPORT)[0].body == CSV_OK


def test_spreadsheets_count_as_one_user(sim: MimecastSimulator, client: httpx.Client) -> None:
    response = upload(client, b"PK\x03\x04 not really a workbook", fileType="xlsx")
    assert response.status_code == 200
    assert status_of(client, response.json()["data"][0]["id"]).json()["data"][0]["totalUsers"] == 1


def test_accept_row_is_configurable() -> None:
    with (
        MimecastSimulator(
            pending_seconds=0, processing_seconds=0, accept_row=lambda row: row["name"] == "Bob"
        ) as sim,
        http_client(sim.url) as client,
    ):
        import_id = upload(client).json()["data"][0]["id"]
        item = status_of(client, import_id).json()["data"][0]
        assert (item["totalUsers"], item["successfulImportedUsers"]) == (2, 1)


@pytest.mark.parametrize(
    ("arg", "body", "code", "field"),
    [
        (None, CSV_OK, "err_validation_null", "x-mc-arg"),
        ("{not json", CSV_OK, "err_validation_null", "x-mc-arg"),
        ({"data": []}, CSV_OK, "err_validation_null", "x-mc-arg"),
        ({"data": [{"fileType": "csv"}]}, CSV_OK, "err_validation_blank", "groupId"),
        ({"data": [{"groupId": "  ", "fileType": "csv"}]}, CSV_OK, "err_validation_blank", "groupId"),
        ({"data": [{"groupId": "unknown", "fileType": "csv"}]}, CSV_OK, "err_group_not_found", "groupId"),
        (
            {"data": [{"groupId": "grp-1", "fileType": "pdf"}]},
            CSV_OK,
            "err_validation_invalid_file_type",
            "fileType",
        ),
        ({"data": [{"groupId": "grp-1"}]}, CSV_OK, "err_validation_invalid_file_type", "fileType"),
        ({"data": [{"groupId": "grp-1", "fileType": "csv"}]}, b"", "err_validation_empty_file", "file"),
        (
            {"data": [{"groupId": "grp-1", "fileType": "csv"}]},
            CSV_OK.rstrip(),
            "err_validation_csv_trailing_newline",
            "file",
        ),
        (
            {"data": [{"groupId": "grp-1", "fileType": "csv"}]},
            b"emailAddress,name\n",
            "err_validation_empty_file",
            "file",
        ),
        (
            {"data": [{"groupId": "grp-1", "fileType": "csv"}]},
            b"\xff\xfe\xfa\n",
            "err_validation_invalid_file",
            "file",
        ),
    ],
)
def test_import_users_validation(arg: Any, body: bytes, code: str, field: str) -> None:
    with MimecastSimulator(group_ids={"grp-1"}) as sim, http_client(sim.url) as client:
        headers = bearer(client)
        if arg is not None:
            headers["x-mc-arg"] = arg if isinstance(arg, str) else json.dumps(arg)
        response = client.post(IMPORT, content=body, headers=headers)
        assert response.status_code == 400
        error = response.json()["fail"][0]["errors"][0]
        assert (error["code"], error["field"], error["retryable"]) == (code, field, False)
        assert sim.import_ids() == []


# -- faults -------------------------------------------------------------------------------------------


def test_rate_limit_fault(sim: MimecastSimulator, client: httpx.Client) -> None:
    headers = bearer(client)
    sim.inject(Fault("rate_limit", path=ACCOUNT, reset_ms=250))
    response = client.post(ACCOUNT, headers=headers)
    assert response.status_code == 429
    assert response.headers["X-RateLimit-Reset"] == "250"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.json()["fail"][0]["errors"][0] == {
        "code": "err_rate_limit_exceeded",
        "message": "Rate limit exceeded",
        "retryable": True,
    }
    assert client.post(ACCOUNT, headers=headers).status_code == 200


def test_server_error_fault_on_import_users_still_creates_the_import(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    sim.inject(Fault("server_error", path=IMPORT, status=503))
    response = upload(client)
    assert response.status_code == 503
    assert response.json()["fail"][0]["errors"][0]["code"] == "err_internal"
    assert response.json()["fail"][0]["errors"][0]["retryable"] is True
    assert len(sim.import_ids()) == 1


def test_latency_fault_delays_a_normal_answer(sim: MimecastSimulator, client: httpx.Client) -> None:
    headers = bearer(client)
    sim.inject(Fault("latency", delay=0.2))
    started = time.monotonic()
    assert client.post(ACCOUNT, headers=headers).status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("token_expired", 401, "token_expired"),
        ("binding_expired", 418, "err_xdk_binding_expired"),
        ("invalid_signature", 401, "err_xdk_invalid_signature"),
        ("server_error", 500, "err_internal"),
    ],
)
def test_error_faults(
    sim: MimecastSimulator, client: httpx.Client, kind: str, status: int, code: str
) -> None:
    headers = bearer(client)
    sim.inject(Fault(kind))
    response = client.post(ACCOUNT, headers=headers)
    assert response.status_code == status
    assert error_code(response) == code
    assert "X-RateLimit-Limit" in response.headers
    assert client.post(ACCOUNT, headers=headers).status_code == 200


def test_malformed_fault_answers_html(sim: MimecastSimulator, client: httpx.Client) -> None:
    sim.inject(Fault("malformed"))
    response = client.post(ACCOUNT, headers={"Authorization": "Bearer whatever"})
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.text == "<html><body><h1>502 Bad Gateway</h1></body></html>"


def test_empty_fault_answers_nothing(sim: MimecastSimulator, client: httpx.Client) -> None:
    sim.inject(Fault("empty"))
    response = client.post(ACCOUNT)
    assert (response.status_code, response.content) == (200, b"")


def test_faults_match_paths_and_are_used_up(sim: MimecastSimulator, client: httpx.Client) -> None:
    sim.inject(Fault("server_error", path=TOKEN, times=2), Fault("empty"))
    assert token_request(client).status_code == 500
    assert token_request(client).status_code == 500
    assert token_request(client).content == b""
    assert token_request(client).status_code == 200


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="Unknown fault kind"):
        Fault("meteor")
    with pytest.raises(ValueError, match="times"):
        Fault("empty", times=0)


# -- rate limiting and recording ----------------------------------------------------------------------


def test_rate_limit_headers_and_429() -> None:
    with MimecastSimulator(rate_limit=2) as sim, http_client(sim.url) as client:
        headers = bearer(client)
        first = client.post(ACCOUNT, headers=headers)
        assert first.status_code == 200
        assert first.headers["X-RateLimit-Limit"] == "2"
        assert first.headers["X-RateLimit-Remaining"] == "1"
        assert 0 < int(first.headers["X-RateLimit-Reset"]) <= 60_000
        assert client.post(ACCOUNT, headers=headers).headers["X-RateLimit-Remaining"] == "0"
        third = client.post(ACCOUNT, headers=headers)
        assert third.status_code == 429
        assert error_code(third) == "err_rate_limit_exceeded"


def test_rate_limit_window_resets() -> None:
    with (
        MimecastSimulator(rate_limit=1, rate_limit_window_seconds=0.1) as sim,
        http_client(sim.url) as client,
    ):
        headers = bearer(client)
        assert client.post(ACCOUNT, headers=headers).status_code == 200
        assert client.post(ACCOUNT, headers=headers).status_code == 429
        time.sleep(0.12)
        assert client.post(ACCOUNT, headers=headers).status_code == 200


def test_requests_are_recorded(sim: MimecastSimulator, client: httpx.Client) -> None:
    client.post(ACCOUNT, content=b"{}", headers={"X-Custom": "yes"})
    recorded = sim.requests_to(ACCOUNT)
    assert len(recorded) == 1
    assert recorded[0].method == "POST"
    assert recorded[0].headers["x-custom"] == "yes"
    assert recorded[0].body == b"{}"
    assert recorded[0].response_status == 401
    assert sim.requests[-1] == recorded[0]


# -- lifecycle and CLI --------------------------------------------------------------------------------


def test_url_needs_a_running_server() -> None:
    sim = MimecastSimulator()
    with pytest.raises(RuntimeError):
        _ = sim.url
    sim.start()
    assert sim.url.startswith("http://127.0.0.1:")
    sim.stop()
    sim.stop()


def test_non_loopback_host_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="loopback"):
        MimecastSimulator("0.0.0.0")
    with pytest.raises(SystemExit) as exit_info:
        main(["--host", "0.0.0.0"])
    assert exit_info.value.code == 2
    assert "loopback" in capsys.readouterr().err


def test_cli_reports_a_busy_port(sim: MimecastSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    busy_port = sim.url.rsplit(":", 1)[1]
    assert main(["--port", busy_port]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_cli_starts_prints_its_url_and_serves() -> None:
    command = [
        sys.executable,
        "-m",
        "airflow_provider_mimecast.testing.simulator",
        "--port",
        "0",
        "--seed-import",
        "1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.fullmatch(r"Mimecast simulator listening on (http://127\.0\.0\.1:\d+)\n", first)
        assert match, first
        lines = [process.stdout.readline() for _ in range(8)]
        assert any(CREDS.client_id in line for line in lines)
        seeded = next(line.split(": ")[1].strip() for line in lines if line.startswith("Seeded import"))
        with http_client(match.group(1)) as client:
            assert status_of(client, seeded).json()["data"][0]["id"] == seeded
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert process.returncode == 0, stderr


def test_airflow_connection_describes_the_simulator_for_both_auth_types() -> None:
    with MimecastSimulator() as sim:
        url = sim.url
        oauth = json.loads(sim.airflow_connection("oauth2", timeout=5))
        hmac_conn = json.loads(sim.airflow_connection("hmac"))
        with pytest.raises(ValueError, match="'oauth2' or 'hmac'"):
            sim.airflow_connection("basic")
    assert (oauth["host"], oauth["login"], oauth["password"]) == (url, CREDS.client_id, CREDS.client_secret)
    assert oauth["extra"] == {"auth_type": "oauth2", "timeout": 5}
    assert (hmac_conn["login"], hmac_conn["password"]) == (CREDS.access_key, CREDS.secret_key)
    assert hmac_conn["extra"] == {"auth_type": "hmac", "app_id": CREDS.app_id, "app_key": CREDS.app_key}
