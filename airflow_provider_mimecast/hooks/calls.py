"""What an API call is, and one attempt of it, free of I/O: shared by the sync and the async path.

:func:`api_call` checks a call's arguments into a :class:`Call`. :func:`attempt` is the one step function
of a call: a generator that yields what it needs (a bearer token, or an :class:`ApiRequest` to send) and is
sent the answer (the token, or the :class:`ApiResponse`). The single re-authentication when a bearer token
is refused (HTTP 401), signing and the envelope checks are therefore written once;
:meth:`MimecastClient.call <airflow_provider_mimecast.hooks.client.MimecastClient.call>` and its ``acall``
answer its steps, with retries around them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from airflow_provider_mimecast.endpoints import TOKEN, Endpoint
from airflow_provider_mimecast.envelope import TokenGrant, check_response, parse_token_grant
from airflow_provider_mimecast.errors import MimecastAuthenticationError, MimecastConfigurationError
from airflow_provider_mimecast.settings import AuthType, MimecastSettings
from airflow_provider_mimecast.signing import REQUEST_ID_HEADER, hmac_headers

#: A request path: absolute, without a query or fragment, in the characters a URL path may hold.
_PATH_SHAPE = re.compile(r"/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*")
#: A media type in printable ASCII: nothing that could end the header.
_MEDIA_TYPE = re.compile(r"[\x21-\x7e]+/[\x20-\x7e]+")


@dataclass(frozen=True)
class ApiRequest:
    """A POST to send, in terms any HTTP client understands."""

    url: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def request_id(self) -> str | None:
        return self.headers.get(REQUEST_ID_HEADER)

    def __repr__(self) -> str:  # headers hold credentials
        return f"ApiRequest(POST {self.path})"


@dataclass(frozen=True)
class ApiResponse:
    """What came back: the status, the headers under lower-case names, and the whole body."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class NeedToken:
    """Asks the driver for a bearer token; ``stale`` is one the server just refused."""

    stale: str | None = None


@dataclass(frozen=True)
class Call:
    """One logical API call; every attempt of it is built (and signed) anew from this."""

    path: str
    json_body: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: False for calls that must not be repeated once the server may have acted on them (uploads).
    idempotent: bool = True
    #: Return the envelope even when ``fail`` lists some items (get-import-status of a batch).
    allow_item_failures: bool = False
    #: Wait out a 429 and retry; False raises it at once, for a caller that waits elsewhere.
    retry_rate_limits: bool = True
    #: Wait before sending while it would take the API user's bucket below the connection's
    #: ``rate_limit_reserve``; False spends the reserve too (never sending into an empty bucket), for the
    #: shared poller, which paces itself and spends it only on a wait's last check.
    keep_rate_limit_reserve: bool = True


#: One attempt of a call: yields a token request or the call's request, returns the checked envelope.
Attempt = Generator[NeedToken | ApiRequest, str | ApiResponse, dict[str, Any]]


def api_call(
    path: str | Endpoint,
    data: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    *,
    meta: Mapping[str, Any] | None = None,
    content: bytes | None = None,
    content_type: str = "application/octet-stream",
    idempotent: bool = False,
    allow_item_failures: bool = False,
    retry_rate_limits: bool = True,
) -> Call:
    """The :class:`Call` for a POST to any Mimecast endpoint, checked before anything is sent.

    The body is ``{"meta": meta, "data": [...]}`` as JSON; with ``content``, the body is those bytes and
    ``data`` travels in the ``x-mc-arg`` header, as Mimecast's upload endpoints take it. Arguments of
    :meth:`MimecastHook.call <airflow_provider_mimecast.hooks.mimecast.MimecastHook.call>`; an
    :class:`~airflow_provider_mimecast.endpoints.Endpoint` row as ``path`` brings its own idempotency
    (``idempotent=True`` still makes any call idempotent, e.g. an upload whose caller accepts duplicates).
    """
    if isinstance(path, Endpoint):
        idempotent = path.idempotent or idempotent
        path = path.path
    if not isinstance(path, str) or not _PATH_SHAPE.fullmatch(path):
        raise MimecastConfigurationError(
            f"path must be an endpoint path such as '/api/directory/find-groups' (starting with '/', without "
            f"host, query or spaces), not {path!r}"
        )
    if path == TOKEN.path:
        raise MimecastConfigurationError(
            f"path {TOKEN.path!r} is not an API call: the hook fetches tokens itself"
        )
    if data is None:
        items: list[Any] = []
    elif isinstance(data, Mapping):
        items = [dict(data)]
    elif (
        isinstance(data, Sequence)
        and not isinstance(data, str | bytes)
        and all(isinstance(item, Mapping) for item in data)
    ):
        items = [dict(item) for item in data]
    else:
        raise MimecastConfigurationError(
            f"data must be an object or a list of objects (Mimecast's 'data' array), not {type(data).__name__}"
        )
    if meta is not None and not isinstance(meta, Mapping):
        raise MimecastConfigurationError(f"meta must be an object, not {type(meta).__name__}")
    _check_json(items, "data")
    if content is None:
        document: dict[str, Any] = {"data": items}
        if meta is not None:
            document = {"meta": _check_json(dict(meta), "meta"), **document}
        return Call(
            path,
            json_body=document,
            idempotent=idempotent,
            allow_item_failures=allow_item_failures,
            retry_rate_limits=retry_rate_limits,
        )
    if not isinstance(content, bytes | bytearray | memoryview):
        raise MimecastConfigurationError(f"content must be bytes, not {type(content).__name__}")
    if meta is not None:
        raise MimecastConfigurationError("meta cannot travel with content: an upload's parameters go in data")
    if not isinstance(content_type, str) or not _MEDIA_TYPE.fullmatch(content_type):
        raise MimecastConfigurationError(
            f"content_type must be a media type such as 'text/csv', not {content_type!r}"
        )
    return Call(
        path,
        content=bytes(content),
        headers={"x-mc-arg": json.dumps({"data": items}), "Content-Type": content_type},
        idempotent=idempotent,
        allow_item_failures=allow_item_failures,
        retry_rate_limits=retry_rate_limits,
    )


def _check_json(value: Any, argument: str) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise MimecastConfigurationError(f"{argument} cannot be sent as JSON: {error}") from None
    return value


def token_request(settings: MimecastSettings) -> ApiRequest:
    """The OAuth 2.0 client-credentials request for a bearer token."""
    body = urlencode(
        {"client_id": settings.login, "client_secret": settings.secret, "grant_type": "client_credentials"}
    ).encode()
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        REQUEST_ID_HEADER: str(uuid.uuid4()),
    }
    return ApiRequest(settings.base_url + TOKEN.path, TOKEN.path, headers, body)


def read_token_grant(settings: MimecastSettings, request: ApiRequest, response: ApiResponse) -> TokenGrant:
    """The grant in the answer to :func:`token_request`. The body may hold a token, so an error never
    quotes it.
    """
    answer = check(request, response, show_body=False, secrets=settings.secrets)
    return parse_token_grant(answer, secrets=settings.secrets)


def api_request(settings: MimecastSettings, call: Call, token: str | None) -> ApiRequest:
    if settings.auth_type is AuthType.HMAC:
        assert settings.app_id and settings.app_key  # checked by MimecastSettings
        # The signature is not registered with mask_secret: it is never logged, is valid only with its
        # own date and request ID, and one registration per request would grow the masker without bound.
        auth = hmac_headers(
            access_key=settings.login,
            secret_key=settings.secret,
            app_id=settings.app_id,
            app_key=settings.app_key,
            uri=call.path,
        )
    else:
        auth = {"Authorization": f"Bearer {token}", REQUEST_ID_HEADER: str(uuid.uuid4())}
    headers = {"Accept": "application/json", **auth, **call.headers}
    if call.content is not None:
        body = call.content
    else:
        headers["Content-Type"] = "application/json"
        body = json.dumps(call.json_body if call.json_body is not None else {"data": []}).encode()
    return ApiRequest(settings.base_url + call.path, call.path, headers, body)


def check(
    request: ApiRequest,
    response: ApiResponse,
    *,
    show_body: bool = True,
    allow_item_failures: bool = False,
    secrets: Iterable[str] = (),
) -> dict[str, Any]:
    """The envelope of a successful answer, or the matching error for the request's path.

    :param secrets: values to redact from anything the answer echoes into the error (an error page that
        quotes the request's headers, a token endpoint that quotes the form).
    """
    return check_response(
        response.status_code,
        response.headers,
        response.body,
        path=request.path,
        request_id=response.headers.get(REQUEST_ID_HEADER.lower()) or request.request_id,
        show_body=show_body,
        allow_item_failures=allow_item_failures,
        secrets=secrets,
    )


def attempt(settings: MimecastSettings, call: Call) -> Attempt:
    """One attempt of ``call``: yields a :class:`NeedToken` or an :class:`ApiRequest`, is sent the token
    or the :class:`ApiResponse`, and returns the checked envelope.
    """
    token = None if settings.auth_type is AuthType.HMAC else (yield NeedToken())
    assert token is None or isinstance(token, str)
    request = api_request(settings, call, token)
    response = yield request
    assert isinstance(response, ApiResponse)
    try:
        return check(
            request, response, allow_item_failures=call.allow_item_failures, secrets=_secrets(settings, token)
        )
    except MimecastAuthenticationError as error:
        # Any 401 to a bearer call means the token was refused: expired (``token_expired``), or revoked or
        # unknown to the server (RFC 6750's ``invalid_token``). Kept in the process-wide cache, a refused
        # token would fail every call of a long-lived triggerer until it aged out, ~30 minutes.
        if token is None or error.http_status != 401:
            raise
    # One re-authentication and one retry, as Mimecast's own integrations do.
    stale = token
    token = yield NeedToken(stale=stale)
    assert isinstance(token, str)
    request = api_request(settings, call, token)
    response = yield request
    assert isinstance(response, ApiResponse)
    return check(
        request,
        response,
        allow_item_failures=call.allow_item_failures,
        secrets=_secrets(settings, token, stale),
    )


def _secrets(settings: MimecastSettings, *tokens: str | None) -> tuple[str, ...]:
    """What an answer must never echo into an error: the connection's secrets and the tokens sent."""
    return (*settings.secrets, *(t for t in tokens if t))
