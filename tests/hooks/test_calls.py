"""The I/O-free call: an endpoint row as the path brings its idempotency; one attempt answered by hand."""

from __future__ import annotations

from airflow_provider_mimecast.endpoints import GET_IMPORT_STATUS, IMPORT_USERS
from airflow_provider_mimecast.hooks.calls import ApiRequest, ApiResponse, NeedToken, api_call, attempt
from airflow_provider_mimecast.settings import MimecastSettings


def test_an_endpoint_row_as_the_path_says_whether_the_call_is_idempotent():
    assert api_call(GET_IMPORT_STATUS, {"id": "a"}).idempotent
    assert api_call(GET_IMPORT_STATUS, {"id": "a"}).path == GET_IMPORT_STATUS.path
    assert not api_call(IMPORT_USERS, {}, content=b"x").idempotent
    # A caller that accepts duplicates (retry_ambiguous_failures) makes even an upload idempotent.
    assert api_call(IMPORT_USERS, {}, content=b"x", idempotent=True).idempotent
    assert not api_call(GET_IMPORT_STATUS.path, {"id": "a"}).idempotent  # a bare path says nothing


def test_one_attempt_asks_for_a_token_then_sends_and_returns_the_checked_envelope():
    settings = MimecastSettings.from_connection_fields(
        host="https://eu-api.services.mimecast.com", login="id", password="secret", extra={}
    )
    steps = attempt(settings, api_call(GET_IMPORT_STATUS, {"id": "a"}))
    assert next(steps) == NeedToken()
    request = steps.send("token-1")
    assert isinstance(request, ApiRequest) and request.headers["Authorization"] == "Bearer token-1"
    body = b'{"meta": {"status": 200}, "data": [{"id": "a"}], "fail": []}'
    try:
        steps.send(ApiResponse(200, {"content-type": "application/json"}, body))
    except StopIteration as done:
        assert done.value["data"] == [{"id": "a"}]
    else:
        raise AssertionError("the attempt should have ended with the envelope")
