from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_mimecast.signing import format_mc_date, hmac_headers, sign_request

# Computed outside the project with OpenSSL:
#   printf '%s' "Tue, 24 Nov 2015 12:50:11 UTC:8578FCFC-A305-4D9A-99CB-F4D5ECEFE297:/api/user/get-import-status:test-app-key" \
#     | openssl dgst -sha1 -mac HMAC -macopt hexkey:$(printf 'test-secret-key-bytes' | xxd -p) -binary | base64
SECRET_KEY = "dGVzdC1zZWNyZXQta2V5LWJ5dGVz"  # Base64 of b"test-secret-key-bytes"
DATE = "Tue, 24 Nov 2015 12:50:11 UTC"
REQUEST_ID = "8578FCFC-A305-4D9A-99CB-F4D5ECEFE297"
EXPECTED_SIGNATURE = "AJUUXAgSaXD7nngIDWsTyqgJrqs="


def test_signature_matches_an_independently_computed_vector():
    signature = sign_request(
        secret_key=SECRET_KEY,
        date=DATE,
        request_id=REQUEST_ID,
        uri="/api/user/get-import-status",
        app_key="test-app-key",
    )
    assert signature == EXPECTED_SIGNATURE


def test_date_format_is_mimecasts_rfc1123_with_utc():
    moment = datetime(2015, 11, 24, 12, 50, 11, tzinfo=timezone.utc)
    assert format_mc_date(moment) == DATE


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_mc_date(datetime(2015, 11, 24))


def test_headers_carry_the_signature_over_the_sent_date_and_request_id():
    moment = datetime(2015, 11, 24, 12, 50, 11, tzinfo=timezone.utc)
    headers = hmac_headers(
        access_key="ACCESS",
        secret_key=SECRET_KEY,
        app_id="app-id",
        app_key="test-app-key",
        uri="/api/user/get-import-status",
        now=moment,
        request_id=REQUEST_ID,
    )
    assert headers == {
        "x-mc-date": DATE,
        "x-mc-req-id": REQUEST_ID,
        "x-mc-app-id": "app-id",
        "Authorization": f"MC ACCESS:{EXPECTED_SIGNATURE}",
    }


def test_every_call_gets_a_fresh_request_id():
    kwargs = dict(access_key="A", secret_key=SECRET_KEY, app_id="i", app_key="k", uri="/api/x")
    first, second = hmac_headers(**kwargs), hmac_headers(**kwargs)
    assert first["x-mc-req-id"] != second["x-mc-req-id"]
    assert first["Authorization"] != second["Authorization"]


def test_a_secret_key_that_is_not_base64_names_the_field_without_echoing_it():
    with pytest.raises(ValueError) as caught:
        sign_request(secret_key="not base64 !!", date=DATE, request_id=REQUEST_ID, uri="/x", app_key="k")
    assert "secret key" in str(caught.value)
    assert "not base64 !!" not in str(caught.value)
