from __future__ import annotations

import json

import pytest

from airflow_provider_mimecast.envelope import (
    check_response,
    envelope_data,
    parse_failures,
    parse_token_grant,
    rate_limit_wait,
)
from airflow_provider_mimecast.errors import (
    MimecastApiError,
    MimecastAuthenticationError,
    MimecastError,
    MimecastInvalidResponseError,
    MimecastRateLimitError,
    MimecastServerError,
    MimecastTokenExpiredError,
)

PATH = "/api/user/get-import-status"


def envelope(status: int = 200, data: list | None = None, fail: list | None = None) -> bytes:
    return json.dumps({"meta": {"status": status}, "data": data or [], "fail": fail or []}).encode()


def v1_fail(code: str, message: str = "m", **extra) -> list:
    return [{"errors": [{"code": code, "message": message, "retryable": False, **extra}]}]


def test_success_returns_the_document():
    document = check_response(200, {}, envelope(data=[{"id": "a"}]), path=PATH)
    assert envelope_data(document, path=PATH) == [{"id": "a"}]


def test_http_200_with_a_fail_entry_is_a_failure_naming_the_import():
    fail = [{"key": {"id": "imp-1"}, "errors": [{"code": "err_import_not_found", "message": "nope"}]}]
    with pytest.raises(MimecastApiError) as caught:
        check_response(200, {}, envelope(fail=fail), path=PATH, request_id="req-1")
    error = caught.value
    assert error.codes == ("err_import_not_found",)
    assert "imp-1" in str(error) and "err_import_not_found" in str(error) and "not retryable" in str(error)
    assert "req-1" in str(error)
    assert not isinstance(error, MimecastAuthenticationError)


def test_both_fail_shapes_are_read():
    v2 = parse_failures([{"code": "token_expired", "message": "expired"}])
    v1 = parse_failures(v1_fail("err_validation_blank", field="groupId"))
    assert (v2[0].code, v2[0].message) == ("token_expired", "expired")
    assert (v1[0].code, v1[0].field) == ("err_validation_blank", "groupId")


@pytest.mark.parametrize(
    ("status", "fail", "hint"),
    [
        (401, v1_fail("err_xdk_invalid_signature", "0004 Invalid Signature"), "regional base URL"),
        (418, v1_fail("err_xdk_binding_expired"), "binding expired"),
        (403, v1_fail("err_xdk_operation_forbidden_for_address"), "Directories | Import | Read"),
        (401, [{"code": "invalid_client", "message": "bad"}], "client secret"),
    ],
)
def test_authentication_failures_carry_a_hint(status, fail, hint):
    with pytest.raises(MimecastAuthenticationError, match="authentication failed") as caught:
        check_response(status, {}, envelope(status, fail=fail), path=PATH)
    assert hint in str(caught.value)


def test_token_expired_is_its_own_class():
    with pytest.raises(MimecastTokenExpiredError):
        check_response(401, {}, envelope(401, fail=[{"code": "token_expired", "message": "x"}]), path=PATH)


def test_rate_limit_reset_is_read_in_milliseconds():
    headers = {"X-RateLimit-Reset": "2500"}
    with pytest.raises(MimecastRateLimitError) as caught:
        check_response(429, headers, envelope(429), path=PATH)
    assert caught.value.retry_after == 2.5
    assert rate_limit_wait({"x-ratelimit-reset": "garbage"}) == 1.0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(status):
    with pytest.raises(MimecastServerError):
        check_response(status, {}, envelope(status, fail=v1_fail("err_internal")), path=PATH)
    with pytest.raises(MimecastServerError, match="Bad Gateway"):
        check_response(status, {}, b"<html><h1>502 Bad Gateway</h1></html>", path=PATH)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "empty body"),
        (b"<html>login page</html>", "login page"),
        (b"{not json", "not json"),
        (b"[1]", "[1]"),
    ],
)
def test_non_envelopes_show_status_and_excerpt(body, expected):
    with pytest.raises(MimecastInvalidResponseError) as caught:
        check_response(200, {}, body, path=PATH, request_id="rid")
    assert expected in str(caught.value) and "HTTP 200" in str(caught.value) and "rid" in str(caught.value)


def test_token_endpoint_body_is_never_excerpted():
    with pytest.raises(MimecastInvalidResponseError) as caught:
        check_response(200, {}, b"access_token=leaky-token-value", path="/oauth/token", show_body=False)
    assert "leaky-token-value" not in str(caught.value)


def test_other_4xx_is_an_api_error():
    with pytest.raises(MimecastApiError) as caught:
        check_response(400, {}, envelope(400, fail=v1_fail("err_validation_null", field="id")), path=PATH)
    assert type(caught.value) is MimecastApiError
    assert "field 'id'" in str(caught.value)


def test_data_must_be_a_list_of_objects():
    with pytest.raises(MimecastInvalidResponseError, match="'data'"):
        envelope_data({"meta": {}, "data": "x"}, path=PATH)


def test_token_grant_hides_the_token_and_names_missing_keys():
    grant = parse_token_grant({"access_token": "tok-secret-1", "expires_in": 1799})
    assert grant.expires_in == 1799 and "tok-secret-1" not in repr(grant)
    with pytest.raises(MimecastInvalidResponseError, match=r"keys: \['token_type'\]"):
        parse_token_grant({"token_type": "Bearer"})


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, envelope(fail=v1_fail("err_import_not_found"))),
        (400, envelope(400, fail=v1_fail("err_validation_blank"))),
        (401, envelope(401, fail=v1_fail("err_xdk_signature_invalid"))),
        (401, json.dumps({"fail": [{"code": "token_expired", "message": "expired"}]}).encode()),
        (403, envelope(403)),
        (429, envelope(429)),
        (429, b""),
        (500, envelope(500)),
        (502, b"<html>Bad gateway</html>"),
        (200, b"<html>login page</html>"),
        (200, b""),
        (200, b"{not json"),
        (200, b"[]"),
    ],
)
def test_every_rejected_answer_is_a_mimecast_error_naming_path_and_request(status, body):
    # Only MimecastErrors (AirflowExceptions, so a task fails instead of crashing) leave the provider.
    from airflow.providers.common.compat.sdk import AirflowException

    with pytest.raises(MimecastError) as caught:
        check_response(status, {"X-RateLimit-Reset": "10"}, body, path=PATH, request_id="req-7")
    assert isinstance(caught.value, AirflowException)
    assert PATH in str(caught.value) and "req-7" in str(caught.value)
