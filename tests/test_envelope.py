from __future__ import annotations

import json
import random

import pytest

from airflow_provider_mimecast.envelope import (
    RATE_LIMIT_WAIT_CLAMP,
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


@pytest.mark.parametrize("body", [b"", b"<html>Unauthorized</html>"])
def test_a_401_without_an_envelope_is_an_authentication_error(body):
    # What an API gateway answers for a token it does not accept (RFC 6750): the hook renews on it.
    headers = {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token", error_description="x"'}
    with pytest.raises(MimecastAuthenticationError) as caught:
        check_response(401, headers, body, path=PATH, request_id="rid")
    assert caught.value.http_status == 401 and "rid" in str(caught.value)
    assert "'invalid_token'" in str(caught.value)
    with pytest.raises(MimecastAuthenticationError, match="authentication failed"):
        check_response(401, {}, body, path="/oauth/token", show_body=False)


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
    ("value", "expected"),
    [
        ("1000000000", RATE_LIMIT_WAIT_CLAMP),
        ("inf", 1.0),
        ("-inf", 1.0),
        ("nan", 1.0),
        ("1e400", 1.0),
        ("-2500", 1.0),
        ("", 1.0),
        ("0", 0.0),
        (" 1500 ", 1.5),
    ],
)
def test_rate_limit_reset_is_clamped_and_non_finite_counts_as_missing(value, expected):
    assert rate_limit_wait({"X-RateLimit-Reset": value}) == expected
    with pytest.raises(MimecastRateLimitError) as caught:
        check_response(429, {"x-ratelimit-reset": value}, b"<html>slow down</html>", path=PATH)
    assert caught.value.retry_after == expected


@pytest.mark.parametrize("status", [100, 199, 301, 302, 307, 308, 399])
def test_only_2xx_is_success_even_with_a_valid_envelope(status):
    headers = {"Location": "https://login.example.com/sso?token=secret-in-query"}
    with pytest.raises(MimecastInvalidResponseError, match=f"HTTP {status}") as caught:
        check_response(status, headers, envelope(data=[{"id": "a"}]), path=PATH)
    message = str(caught.value)
    if 300 <= status < 400:
        assert "redirect to 'https://login.example.com/sso'" in message and "secret-in-query" not in message
    assert "proxy" in message


def test_a_redirect_without_an_envelope_hints_at_the_base_url():
    with pytest.raises(MimecastInvalidResponseError, match="redirect"):
        check_response(302, {"location": "http://[::1"}, b"", path=PATH)


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"fail": ' + b"[" * 100_000, b"{" * 100_000])
def test_deeply_nested_bodies_are_invalid_responses(body):
    with pytest.raises(MimecastInvalidResponseError, match="not a Mimecast JSON envelope"):
        check_response(200, {}, body, path=PATH)


def test_fail_entries_nested_to_the_limit_do_not_crash():
    for depth in range(400, 1200, 50):
        body = b'{"fail": [' + b"[" * depth + b"]" * depth + b"]}"
        with pytest.raises(MimecastError):
            check_response(400, {}, body, path=PATH)


CLIENT_SECRET = "s3cr+t/val=ue"
TOKEN = "eyJhbGciOi.tok3n-value_42"


def test_an_error_page_echoing_the_bearer_token_is_redacted():
    body = f"<html><pre>POST {PATH}\nAuthorization: Bearer {TOKEN}\nHost: x</pre></html>".encode()
    with pytest.raises(MimecastInvalidResponseError) as caught:
        check_response(200, {}, body, path=PATH, secrets=[TOKEN])
    assert "tok3n-value" not in str(caught.value) and "***" in str(caught.value)
    with pytest.raises(MimecastServerError) as caught_5xx:
        check_response(502, {}, body.replace(b"Bearer ", b"token "), path=PATH, secrets=[TOKEN])
    assert "tok3n-value" not in str(caught_5xx.value)


def test_a_token_endpoint_401_echoing_the_form_body_is_redacted():
    form = "client_id=my-client&client_secret=s3cr%2Bt%2Fval%3Due&grant_type=client_credentials"
    fail = [
        {"code": "invalid_client", "message": f"bad request body: {form}", "field": CLIENT_SECRET},
        {"key": {"id": CLIENT_SECRET, CLIENT_SECRET: [CLIENT_SECRET]}, "errors": [{"code": CLIENT_SECRET}]},
    ]
    body = json.dumps({"meta": {"status": 401}, "fail": fail}).encode()
    with pytest.raises(MimecastAuthenticationError) as caught:
        check_response(
            401,
            {"x-mc-req-id": CLIENT_SECRET},
            body,
            path="/oauth/token",
            request_id=CLIENT_SECRET,
            secrets=[CLIENT_SECRET],
        )
    error = caught.value
    assert "s3cr" not in str(error) and "invalid_client" in str(error)
    assert "s3cr" not in repr(error.failures) and error.request_id == "***"


def test_keys_in_messages_are_redacted():
    with pytest.raises(MimecastInvalidResponseError) as caught:
        parse_token_grant({CLIENT_SECRET: 1}, secrets=[CLIENT_SECRET])
    assert "s3cr" not in str(caught.value)
    with pytest.raises(MimecastInvalidResponseError) as caught:
        envelope_data({TOKEN: 1, "data": None}, path=PATH, secrets=[TOKEN])
    assert "tok3n" not in str(caught.value) and "'data'" in str(caught.value)


@pytest.mark.parametrize("expires_in", ["1e400", float("nan"), -5, 0, True, "soon", None])
def test_an_unusable_token_lifetime_counts_as_the_documented_default(expires_in):
    assert parse_token_grant({"access_token": "t", "expires_in": expires_in}).expires_in == 1799.0


def test_random_bodies_and_statuses_raise_only_mimecast_errors():
    rng = random.Random(8)
    pieces = [
        b"{",
        b"}",
        b"[",
        b"]",
        b'"fail"',
        b'"data"',
        b'"errors"',
        b'"code"',
        b":",
        b",",
        b"1e400",
        b"null",
        b'"x"',
        b"\xff",
        b"-1",
        b"true",
        b'"key"',
        b'"message"',
    ]
    for _ in range(3000):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        status = rng.choice([100, 200, 201, 204, 302, 400, 401, 403, 418, 429, 500, 503, 600])
        headers = {"X-RateLimit-Reset": rng.choice(["", "nan", "5", "1e999", "x"])}
        try:
            document = check_response(status, headers, body, path=PATH, secrets=["x"])
            envelope_data(document, path=PATH)
        except MimecastError:
            pass


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
