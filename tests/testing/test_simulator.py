"""Tests for the local Mimecast simulator, over real HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import requests

from airflow_provider_mimecast.signing import hmac_headers, sign_request
from airflow_provider_mimecast.testing.simulator import (
    DEFAULT_CREDENTIALS,
    Fault,
    MimecastSimulator,
    SimulatorCredentials,
    airflow_connection,
    main,
)
from airflow_provider_mimecast.testing.simulator.recording import RequestLog
from tests.conftest import wait_until
from tests.workbooks import xlsx

STATUS = "/api/user/get-import-status"
IMPORT = "/api/user/import-users"
ACCOUNT = "/api/account/get-account"
TOKEN = "/oauth/token"
CREDS = DEFAULT_CREDENTIALS
CSV_OK = b"email,name\nada@example.com,Ada\nbob@example.org,Bob\n"


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


def test_pending_checks_hold_each_import_pending_for_its_first_checks() -> None:
    with MimecastSimulator(pending_seconds=0, processing_seconds=0, pending_checks=2) as sim:
        first, second = sim.create_import(), sim.create_import()
        with http_client(sim.url) as client:
            statuses = [
                [item["status"] for item in status_of(client, *ids).json()["data"]]
                for ids in ((first,), (first, second), (first, second))
            ]
    # Each ID counts its own checks; a zero-second timeline then completes at once.
    assert statuses == [["pending"], ["pending", "pending"], ["completed", "pending"]]
    with pytest.raises(ValueError, match="pending_checks must be 0 or more"):
        MimecastSimulator(pending_checks=-1)


def test_complete_imports_ends_a_long_timeline_when_asked(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    waiting, processing = sim.create_import(pending_seconds=3600), sim.create_import(pending_seconds=0)
    done = sim.create_import(pending_seconds=0, processing_seconds=0)
    sim.complete_imports([waiting, processing, done], after_seconds=3600)
    statuses = [item["status"] for item in status_of(client, waiting, processing, done).json()["data"]]
    assert statuses == ["processing", "processing", "completed"]
    sim.complete_imports([waiting, processing])
    items = status_of(client, waiting, processing).json()["data"]
    assert [item["status"] for item in items] == ["completed", "completed"]
    assert items[0]["successfulImportedUsers"] == items[0]["totalUsers"]
    with pytest.raises(KeyError, match="eNo1missing"):
        sim.complete_imports(["eNo1missing"])
    with pytest.raises(ValueError, match="after_seconds"):
        sim.complete_imports([waiting], after_seconds=-1)


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


def test_more_than_ten_ids_in_one_status_call_are_refused(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    """Mimecast's API 2.0 reference: "up to 10 user import requests in a single API call"."""
    ids = [sim.create_import() for _ in range(11)]
    assert status_of(client, *ids[:10]).status_code == 200
    response = status_of(client, *ids)
    assert response.status_code == 400
    [entry] = response.json()["fail"]
    assert entry["errors"][0]["code"] == "err_validation_max_items_exceeded"
    assert entry["errors"][0]["field"] == "data"
    assert entry["errors"][0]["retryable"] is False
    assert "At most 10 import IDs" in entry["errors"][0]["message"]


def test_the_status_call_limit_is_configurable() -> None:
    with MimecastSimulator(max_status_ids=2) as sim, http_client(sim.url) as client:
        ids = [sim.create_import() for _ in range(3)]
        assert status_of(client, *ids[:2]).status_code == 200
        assert status_of(client, *ids).status_code == 400


def test_omit_ids_fault_leaves_imports_out_of_the_answer(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    first, second, third = (sim.create_import() for _ in range(3))
    sim.inject(Fault("omit_ids", path=STATUS), Fault("omit_ids", path=STATUS, import_ids=(first,)))
    last_missing = status_of(client, first, second, third).json()
    named_missing = status_of(client, first, second, third).json()
    whole = status_of(client, first, second, third).json()
    assert [item["id"] for item in last_missing["data"]] == [first, second]
    assert [item["id"] for item in named_missing["data"]] == [second, third]
    assert [item["id"] for item in whole["data"]] == [first, second, third]
    assert last_missing["fail"] == named_missing["fail"] == []


def test_extra_ids_fault_adds_imports_nobody_asked_for(sim: MimecastSimulator, client: httpx.Client) -> None:
    asked, other = sim.create_import(), sim.create_import()
    sim.inject(Fault("extra_ids", path=STATUS), Fault("extra_ids", path=STATUS, import_ids=(other,)))
    phantom = status_of(client, asked).json()["data"]
    named = status_of(client, asked).json()["data"]
    assert phantom[0]["id"] == asked and len(phantom) == 2
    assert phantom[1]["id"] not in sim.import_ids() and phantom[1]["status"] == "completed"
    assert [item["id"] for item in named] == [asked, other]


def test_import_ids_of_a_fault_are_a_tuple() -> None:
    with pytest.raises(ValueError, match="tuple of import IDs"):
        Fault("omit_ids", import_ids="eNo1abc")  # type: ignore[arg-type]


def test_bare_401_fault_answers_without_a_body(sim: MimecastSimulator, client: httpx.Client) -> None:
    sim.inject(Fault("bare_401", path=STATUS))
    response = status_of(client, sim.create_import())
    assert (response.status_code, response.content) == (401, b"")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_retryable_fail_fault_answers_a_retryable_fail_entry_instead_of_a_status(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    first, second = sim.create_import(), sim.create_import()
    sim.inject(
        Fault("retryable_fail", path=STATUS, import_ids=(second,)), Fault("retryable_fail", path=STATUS)
    )
    named = status_of(client, first, second).json()
    every = status_of(client, first, second).json()
    assert [item["id"] for item in named["data"]] == [first]
    [entry] = named["fail"]
    assert entry["key"] == {"id": second} and entry["errors"][0]["retryable"] is True
    assert every["data"] == [] and [e["key"]["id"] for e in every["fail"]] == [first, second]
    assert [item["id"] for item in status_of(client, first, second).json()["data"]] == [first, second]


def test_forget_tokens_refuses_every_token_issued_so_far(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    headers = bearer(client)
    assert client.post(ACCOUNT, headers=headers).status_code == 200
    sim.forget_tokens()
    refused = client.post(ACCOUNT, headers=headers)
    assert refused.status_code == 401 and refused.json()["fail"][0]["code"] == "invalid_token"
    assert client.post(ACCOUNT, headers=bearer(client)).status_code == 200


def test_set_credentials_accepts_a_rotated_secret_only(sim: MimecastSimulator, client: httpx.Client) -> None:
    issued_before = bearer(client)
    sim.set_credentials(dataclasses.replace(CREDS, client_secret="rotated-client-secret"))
    assert token_request(client).status_code == 401  # the old secret
    assert token_request(client, client_secret="rotated-client-secret").status_code == 200
    assert client.post(ACCOUNT, headers=issued_before).status_code == 200  # issued tokens stay valid
    assert sim.airflow_connection().count("rotated-client-secret") == 1


def test_a_stopped_simulator_starts_again_on_its_port_with_its_imports() -> None:
    sim = MimecastSimulator(pending_seconds=0, processing_seconds=0).start()
    try:
        url, import_id = sim.url, sim.create_import()
        with http_client(url) as client:
            assert status_of(client, import_id).status_code == 200
        sim.stop()
        with pytest.raises(httpx.ConnectError), http_client(url) as client:
            client.post(ACCOUNT)
        sim.start()
        assert sim.url == url
        with http_client(url) as client:
            assert status_of(client, import_id).json()["data"][0]["id"] == import_id
        assert sim.request_counts()[STATUS] == 2
    finally:
        sim.stop()


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
    body = b"email,name\nada@example.com,Ada\nnot-an-address,Bob\ncy@example.net,Cy\n"
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


@pytest.mark.parametrize(
    "body",
    [
        b"emailAddress,name\nada@example.com,Ada\n",
        b"Email,name\nada@example.com,Ada\n",
        b"e-mail,name\nada@example.com,Ada\n",
        b" email,name\nada@example.com,Ada\n",
        b"name,email\nAda,ada@example.com\n",
        b"email,Name\nada@example.com,Ada\n",
        b"email,phone,name\nada@example.com,1,Ada\n",
        b"a,b,c,d,e,f,g,h,i,j,k,l,m,email,name\n,,,,,,,,,,,,,ada@example.com,Ada\n",
        b"\n" * 99 + b"email,name\nada@example.com,Ada\n",
    ],
)
def test_a_file_mimecast_would_not_read_is_refused(
    sim: MimecastSimulator, client: httpx.Client, body: bytes
) -> None:
    # Mimecast's processing fails on a file without the checkpoint cell 'email' (and 'name' right of it)
    # within A1-M99; the simulator's choice is to refuse the upload, so such a file fails every test.
    response = upload(client, body)
    assert response.status_code == 400
    error = response.json()["fail"][0]["errors"][0]
    assert (error["code"], error["field"]) == ("err_validation_checkpoint_not_found", "file")
    assert sim.import_ids() == []


def test_the_checkpoint_cell_is_found_anywhere_within_a1_to_m99(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    body = b"HR export,,,\n\n,,email,name,password\n,,ada@example.com,Ada,pw\n,,,,\n,,bad address,B,pw\n"
    response = upload(client, body)
    assert response.status_code == 200, response.text
    assert status_of(client, response.json()["data"][0]["id"]).json()["data"][0]["totalUsers"] == 2


def test_an_xlsx_is_read_like_a_csv(sim: MimecastSimulator, client: httpx.Client) -> None:
    workbook = xlsx([["email", "name"], ["ada@example.com", "Ada"], ["not-an-address", "B"]], start_row=2)
    import_id = upload(client, workbook, fileType="xlsx").json()["data"][0]["id"]
    wait_until(lambda: status_of(client, import_id).json()["data"][0]["status"] == "completed", timeout=10)
    item = status_of(client, import_id).json()["data"][0]
    assert (item["totalUsers"], item["successfulImportedUsers"]) == (2, 1)
    refused = upload(client, xlsx([["emailAddress", "name"], ["ada@example.com", "Ada"]]), fileType="xlsx")
    assert error_code(refused) == "err_validation_checkpoint_not_found"
    assert (
        error_code(upload(client, b"PK\x03\x04 not a workbook", fileType="xlsx"))
        == "err_validation_invalid_file"
    )
    assert len(sim.import_ids()) == 1


def test_an_xls_counts_as_one_user(sim: MimecastSimulator, client: httpx.Client) -> None:
    # A binary BIFF file, which the standard library cannot read.
    response = upload(client, b"\xd0\xcf\x11\xe0 not really a workbook", fileType="xls")
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
            b"email,name\n\n,\n",
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
    # Another limit than the bucket's: Remaining is what the API user's bucket holds, untouched.
    assert response.headers["X-RateLimit-Remaining"] == str(sim.rate_remaining()) == "1000"
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


def test_cli_prints_connections_to_paste_for_both_auth_types() -> None:
    command = [sys.executable, "-m", "airflow_provider_mimecast.testing.simulator", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        while not lines[-1].startswith("Press Ctrl-C") and lines[-1]:
            lines.append(process.stdout.readline())
        url = lines[0].rsplit(" ", 1)[1].strip()
        exports = dict(
            shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export AIRFLOW_CONN_")
        )
        assert exports == {
            "AIRFLOW_CONN_MIMECAST_DEFAULT": airflow_connection(url, "oauth2"),
            "AIRFLOW_CONN_MIMECAST_HMAC": airflow_connection(url, "hmac"),
        }
        # The pasted connections really work against the running simulator.
        oauth = json.loads(exports["AIRFLOW_CONN_MIMECAST_DEFAULT"])
        hmac_conn = json.loads(exports["AIRFLOW_CONN_MIMECAST_HMAC"])
        with http_client(oauth["host"]) as client:
            form = {"client_id": oauth["login"], "client_secret": oauth["password"]}
            token = client.post(TOKEN, data={**form, "grant_type": "client_credentials"})
            assert token.status_code == 200
            headers = hmac_headers(
                access_key=hmac_conn["login"],
                secret_key=hmac_conn["password"],
                app_id=hmac_conn["extra"]["app_id"],
                app_key=hmac_conn["extra"]["app_key"],
                uri=ACCOUNT,
            )
            assert client.post(ACCOUNT, headers=headers).status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert process.returncode == 0, stderr


# -- what the server saw --------------------------------------------------------------------------------


def test_request_counts_and_status_request_sizes(sim: MimecastSimulator, client: httpx.Client) -> None:
    ids = [sim.create_import() for _ in range(3)]
    headers = bearer(client)
    status_of(client, ids[0])
    status_of(client, *ids)
    client.post(STATUS, content=b"not json", headers=headers)
    client.post(ACCOUNT, headers=headers)
    assert sim.request_counts() == {TOKEN: 3, STATUS: 3, ACCOUNT: 1}
    assert sim.status_request_sizes() == [1, 3, 0]
    assert len(sim.requests) == 7
    sim.reset_counts()
    assert (sim.request_counts(), sim.status_request_sizes(), sim.requests) == ({}, [], [])
    assert sim.connections_accepted == 0
    client.post(ACCOUNT, headers=headers)
    assert sim.request_counts() == {ACCOUNT: 1}
    assert sim.connections_accepted == 0  # the client kept its connection


def test_recording_is_capped_while_counts_stay_exact() -> None:
    with (
        MimecastSimulator(max_recorded_requests=5, max_recorded_body_bytes=10) as sim,
        http_client(sim.url) as client,
    ):
        for index in range(20):
            client.post(ACCOUNT, content=f"{index:02}-request-body".encode())
        assert sim.request_counts() == {ACCOUNT: 20}
        kept = sim.requests
        assert [request.body for request in kept] == [f"{index}-request".encode() for index in range(15, 20)]
        assert [request.truncated_from for request in kept] == [len(b"00-request-body")] * 5
        client.post(ACCOUNT, content=b"short")
        assert (sim.requests[-1].body, sim.requests[-1].truncated_from) == (b"short", None)


def test_kept_bodies_are_bounded_in_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RequestLog, "max_kept_body_bytes", 30)
    log = RequestLog(max_requests=100, max_body_bytes=None)
    for index in range(5):
        log.record("POST", STATUS, {}, f"body {index:05}".encode(), 200, ids_carried=index)
    assert [request.body for request in log.requests()] == [b"body 00002", b"body 00003", b"body 00004"]
    assert log.counts() == {STATUS: 5}
    assert log.status_sizes() == [0, 1, 2, 3, 4]
    log.reset()
    log.record("POST", STATUS, {}, b"x" * 30, 200)
    assert len(log.requests()) == 1


@pytest.mark.parametrize("name", ["max_recorded_requests", "max_recorded_body_bytes"])
@pytest.mark.parametrize("value", [-1, 2.5, True])
def test_recording_caps_are_checked(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        MimecastSimulator(**{name: value})


# -- connections ------------------------------------------------------------------------------------------


def test_a_keep_alive_client_reuses_one_connection(sim: MimecastSimulator) -> None:
    with http_client(sim.url) as client:
        headers = bearer(client)
        for _ in range(10):
            assert client.post(ACCOUNT, headers=headers).status_code == 200
        sim.inject(Fault("malformed"), Fault("redirect"), Fault("empty"))
        assert [client.post(ACCOUNT, headers=headers).status_code for _ in range(3)] == [502, 302, 200]
    assert sim.connections_accepted == 1
    with requests.Session() as session:
        for _ in range(5):
            assert session.post(sim.url + ACCOUNT, headers=headers, timeout=5).status_code == 200
    assert sim.connections_accepted == 2


def raw_request(sock: socket.socket, path: str = ACCOUNT, version: str = "HTTP/1.1") -> None:
    sock.sendall(f"POST {path} {version}\r\nHost: sim\r\nContent-Length: 0\r\n\r\n".encode())


def read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """One whole response off a keep-alive connection, by its Content-Length."""
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    assert len(body) == length
    return head + b"\r\n\r\n" + body


def test_an_http_1_0_client_gets_its_connection_closed(sim: MimecastSimulator) -> None:
    with socket.create_connection(("127.0.0.1", port_of(sim))) as sock:
        raw_request(sock, version="HTTP/1.0")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 401 ")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(body)}".encode() in head


def port_of(sim: MimecastSimulator) -> int:
    return int(sim.url.rsplit(":", 1)[1])


def connection_threads(port: int) -> list[threading.Thread]:
    name = f"mimecast-simulator-{port}-connection"
    return [thread for thread in threading.enumerate() if thread.name == name]


def test_stop_ends_idle_keep_alive_connections_promptly() -> None:
    sim = MimecastSimulator().start()
    port = port_of(sim)
    sockets = [socket.create_connection(("127.0.0.1", port_of(sim))) for _ in range(5)]
    for sock in sockets:
        raw_request(sock)
        assert read_response(sock).startswith(b"HTTP/1.1 401 ")
    assert len(connection_threads(port)) == 5
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 1.5
    for sock in sockets:
        assert read_until_closed(sock) == b""
        sock.close()
    assert connection_threads(port) == []


def test_an_idle_connection_is_closed_after_the_idle_timeout() -> None:
    with (
        MimecastSimulator(idle_timeout_seconds=0.1) as sim,
        socket.create_connection(("127.0.0.1", port_of(sim))) as sock,
    ):
        raw_request(sock)
        assert read_until_closed(sock).startswith(b"HTTP/1.1 401 ")


def test_a_client_giving_up_on_a_slow_answer_leaves_the_server_serving(sim: MimecastSimulator) -> None:
    sim.inject(Fault("latency", delay=0.5))
    with (
        httpx.Client(base_url=sim.url, timeout=0.05, verify=False) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post(ACCOUNT)
    with http_client(sim.url) as client:
        assert client.post(ACCOUNT, headers=bearer(client)).status_code == 200
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 1.5


def test_many_concurrent_polls_through_a_handful_of_connections() -> None:
    with MimecastSimulator(rate_limit=10**6, max_status_ids=None) as sim, http_client(sim.url) as client:
        ids = [sim.create_import() for _ in range(1000)]
        headers = bearer(client)
        batch = client.post(STATUS, json={"data": [{"id": id_} for id_ in ids]}, headers=headers)
        assert [item["id"] for item in batch.json()["data"]] == ids
        sim.reset_counts()

        def poll(first: int) -> list[int]:
            # Each thread is one keep-alive connection taking its turn at 100 of the ids.
            with requests.Session() as session:
                return [
                    session.post(
                        sim.url + STATUS, json={"data": [{"id": id_}]}, headers=headers, timeout=5
                    ).status_code
                    for id_ in ids[first : first + 100]
                ]

        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = [
                status for batch_statuses in pool.map(poll, range(0, 400, 100)) for status in batch_statuses
            ]
        assert statuses == [200] * 400
        assert sim.connections_accepted == 4
        assert sim.status_request_sizes() == [1] * 400


async def test_a_hundred_concurrent_connections_are_served_side_by_side(sim: MimecastSimulator) -> None:
    sim.inject(Fault("latency", path=ACCOUNT, delay=0.5, times=100))
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=sim.url, timeout=10, verify=False, limits=limits) as client:
        started = time.monotonic()
        answers = await asyncio.gather(*(client.post(ACCOUNT) for _ in range(100)))
        elapsed = time.monotonic() - started
    assert [answer.status_code for answer in answers] == [401] * 100
    assert sim.connections_accepted == 100
    # One after another, the 100 delays would add up to 50 s.
    assert elapsed < 5


# -- faults for hardening ---------------------------------------------------------------------------------


def test_trickle_fault_outlasts_a_per_read_timeout(sim: MimecastSimulator, client: httpx.Client) -> None:
    headers = bearer(client)
    sim.inject(Fault("trickle", path=ACCOUNT, delay=0.002))
    timeout = httpx.Timeout(5, read=0.2)
    started = time.monotonic()
    response = client.post(ACCOUNT, headers=headers, timeout=timeout)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["data"][0]["accountCode"] == "CSIM0A0"
    # Every read got a byte within 0.2 s, yet the whole answer took longer than that.
    assert elapsed > 0.2


def test_trickle_sends_a_byte_at_a_time_and_stop_interrupts_it() -> None:
    sim = MimecastSimulator().start()
    sim.inject(Fault("trickle", delay=0.05))
    with socket.create_connection(("127.0.0.1", port_of(sim))) as sock:
        raw_request(sock)
        sock.settimeout(5)
        assert [sock.recv(100) for _ in range(4)] == [b"H", b"T", b"T", b"P"]
        started = time.monotonic()
        sim.stop()
        assert time.monotonic() - started < 1.5
        assert len(read_until_closed(sock)) <= 2


@pytest.mark.parametrize("delay", [0, -1, float("nan"), float("inf")])
def test_trickle_needs_a_positive_delay(delay: float) -> None:
    with pytest.raises(ValueError, match="delay"):
        Fault("trickle", delay=delay)


def test_redirect_fault_answers_the_real_envelope_under_a_3xx(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    import_id = sim.create_import()
    sim.inject(
        Fault("redirect", path=STATUS), Fault("redirect", path=STATUS, status=307, location="/elsewhere")
    )
    first = status_of(client, import_id)
    assert (first.status_code, first.headers["Location"]) == (302, "/login")
    assert first.json()["data"][0]["id"] == import_id
    second = status_of(client, import_id)
    assert (second.status_code, second.headers["Location"]) == (307, "/elsewhere")
    assert status_of(client, import_id).status_code == 200


@pytest.mark.parametrize(
    ("kind", "status"), [("redirect", 200), ("redirect", 404), ("echo", 101), ("server_error", 302)]
)
def test_fault_status_must_suit_its_kind(kind: str, status: int) -> None:
    with pytest.raises(ValueError, match=f"status=({status})"):
        Fault(kind, status=status)


def test_fault_statuses_default_per_kind() -> None:
    assert [Fault(kind).status for kind in ("server_error", "redirect", "echo")] == [500, 302, 502]


def test_echo_fault_quotes_the_request_back(sim: MimecastSimulator, client: httpx.Client) -> None:
    sim.inject(Fault("echo", path=TOKEN, status=401), Fault("echo", path=ACCOUNT))
    refused = token_request(client)
    assert refused.status_code == 401
    assert refused.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f"client_secret={CREDS.client_secret}" in refused.text
    assert "POST /oauth/token" in refused.text
    headers = bearer(client)
    page = client.post(ACCOUNT, headers=headers, content=b'{"data": []}')
    assert page.status_code == 502
    assert "<h1>502 Bad Gateway</h1>" in page.text
    assert f"authorization: {headers['Authorization']}" in page.text
    assert '{"data": []}' in page.text
    # The request never reached the API, and the next one does.
    assert client.post(ACCOUNT, headers=headers).status_code == 200


def test_echo_fault_as_json_quotes_the_request_in_mimecast_errors(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    sim.inject(Fault("echo", path=TOKEN, status=401, as_json=True), Fault("echo", path=ACCOUNT, as_json=True))
    refused = token_request(client)
    assert refused.status_code == 401
    assert refused.json()["fail"][0]["code"] == "invalid_request"
    assert f"client_secret={CREDS.client_secret}" in refused.json()["fail"][0]["message"]
    headers = bearer(client)
    failed = client.post(ACCOUNT, headers=headers)
    assert failed.status_code == 502
    assert error_code(failed) == "err_request_rejected"
    assert headers["Authorization"] in failed.json()["fail"][0]["errors"][0]["message"]


def test_fault_injection_is_thread_safe(sim: MimecastSimulator) -> None:
    sim.inject(Fault("server_error", path=ACCOUNT, status=503, times=50))

    def post() -> int:
        with http_client(sim.url) as client:
            return client.post(ACCOUNT).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda _: post(), range(200)))
    assert statuses.count(503) == 50
    assert statuses.count(401) == 150


# -- a rate-limit window shared by every caller ------------------------------------------------------------


async def test_rate_limit_for_answers_429_to_every_caller_until_it_ends(sim: MimecastSimulator) -> None:
    async with httpx.AsyncClient(base_url=sim.url, timeout=5, verify=False) as client:
        form = {
            "client_id": CREDS.client_id,
            "client_secret": CREDS.client_secret,
            "grant_type": "client_credentials",
        }
        headers = {"Authorization": f"Bearer {(await client.post(TOKEN, data=form)).json()['access_token']}"}
        sim.inject(Fault("server_error", path=ACCOUNT))
        # A window long enough for all 30 requests to arrive inside it on a loaded machine.
        sim.rate_limit_for(1.5)
        opened = time.monotonic()
        answers = await asyncio.gather(*(client.post(ACCOUNT, headers=headers) for _ in range(30)))
        assert {answer.status_code for answer in answers} == {429}
        resets = [int(answer.headers["X-RateLimit-Reset"]) for answer in answers]
        assert all(0 < reset <= 1500 for reset in resets)
        assert error_code(answers[0]) == "err_rate_limit_exceeded"
        # The token endpoint is not limited.
        assert (await client.post(TOKEN, data=form)).status_code == 200
        deadline = opened + 5
        while (answer := await client.post(ACCOUNT, headers=headers)).status_code == 429:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert time.monotonic() - opened >= 1.5
        # The queued fault waited for the window to end.
        assert answer.status_code == 500
        assert (await client.post(ACCOUNT, headers=headers)).status_code == 200


def test_rate_limit_for_checks_its_argument_and_can_be_ended(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    with pytest.raises(ValueError, match="seconds"):
        sim.rate_limit_for(-1)
    headers = bearer(client)
    sim.rate_limit_for(60)
    assert client.post(ACCOUNT, headers=headers).status_code == 429
    sim.rate_limit_for(0)
    assert client.post(ACCOUNT, headers=headers).status_code == 200


def test_the_simulator_imports_nothing_from_airflow() -> None:
    # A fresh interpreter: this test process has imported Airflow already.
    code = (
        "import sys, airflow_provider_mimecast.testing.simulator; "
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "[]"


def test_unavailable_for_answers_5xx_to_every_call_and_counts_them(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    headers = bearer(client)
    with pytest.raises(ValueError, match="status"):
        sim.unavailable_for(1, status=404)
    sim.inject(Fault("rate_limit", path=ACCOUNT))
    sim.unavailable_for(60)
    assert client.post(ACCOUNT, headers=headers).status_code == 503
    assert token_request(client).status_code == 503  # the whole service, tokens included
    sim.unavailable_for(0)
    assert client.post(ACCOUNT, headers=headers).status_code == 429  # the queued fault waited
    assert client.post(ACCOUNT, headers=headers).status_code == 200
    assert sim.request_counts()[ACCOUNT] == 3


# -- find-groups -----------------------------------------------------------------------------------

GROUPS = "/api/directory/find-groups"


def find_groups(client: httpx.Client, query: str | None, **pagination: Any) -> httpx.Response:
    item = {} if query is None else {"query": query}
    body = {"meta": {"pagination": pagination}, "data": [item]}
    return client.post(GROUPS, json=body, headers=bearer(client))


def test_find_groups_searches_names_as_free_text_one_page_at_a_time() -> None:
    with MimecastSimulator(demo_groups=False) as sim, http_client(sim.url) as client:
        top = sim.add_group("Sales", user_count=4)
        ids = [top, *(sim.add_group(f"Sales {n}", parent_id=top) for n in range(4))]
        sim.add_group("Finance")
        first = find_groups(client, "sAlEs", pageSize=3).json()
        assert first["meta"]["pagination"]["totalCount"] == 5
        assert [f["id"] for f in first["data"][0]["folders"]] == ids[:3]
        assert first["data"][0]["folders"][0] == {
            "id": top,
            "description": "Sales",
            "source": "cloud",
            "userCount": 4,
            "folderCount": 4,
        }
        assert first["data"][0]["folders"][1]["parentId"] == top
        token = first["meta"]["pagination"]["next"]
        second = find_groups(client, "sAlEs", pageSize=3, pageToken=token).json()
        assert [f["id"] for f in second["data"][0]["folders"]] == ids[3:]
        assert "next" not in second["meta"]["pagination"]
        # A token belongs to its own search.
        assert error_code(find_groups(client, "Finance", pageToken=token)) == "err_validation_invalid"
        assert len(find_groups(client, None).json()["data"][0]["folders"]) == 6


def test_a_new_simulator_holds_demo_groups(sim: MimecastSimulator) -> None:
    names = {
        (g.name, next((p.name for p in sim.groups() if p.id == g.parent_id), None)) for g in sim.groups()
    }
    assert names == {
        ("Directory Sync", None),
        ("EMEA", None),
        ("Americas", None),
        ("Sales", "EMEA"),
        ("Sales", "Americas"),
    }


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"query": 7}]},
        {"data": [{"query": "x", "source": "azure"}]},
        {"meta": {"pagination": {"pageSize": 0}}, "data": [{"query": "x"}]},
        {"meta": {"pagination": {"pageSize": 501}}, "data": [{"query": "x"}]},
        {"meta": {"pagination": {"pageToken": "not-a-token"}}, "data": [{"query": "x"}]},
    ],
)
def test_find_groups_refuses_what_is_not_a_search(sim: MimecastSimulator, client: httpx.Client, body) -> None:
    response = client.post(GROUPS, json=body, headers=bearer(client))
    assert response.status_code == 400 and error_code(response).startswith("err_validation")
