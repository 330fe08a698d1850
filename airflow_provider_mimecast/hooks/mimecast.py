"""MimecastHook: the thin I/O layer over the pure core (settings, signing, envelope, status)."""

from __future__ import annotations

import functools
import json
import ssl
import threading
import time
import uuid
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from airflow.providers.common.compat.connection import get_async_connection
from airflow.providers.common.compat.sdk import BaseHook, mask_secret
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential, wait_random

from airflow_provider_mimecast.envelope import TokenGrant, check_response, envelope_data, parse_token_grant
from airflow_provider_mimecast.errors import (
    MimecastConfigurationError,
    MimecastError,
    MimecastInvalidResponseError,
    MimecastRateLimitError,
    MimecastServerError,
    MimecastTokenExpiredError,
    MimecastTransportError,
    MimecastUploadNotRetriedError,
)
from airflow_provider_mimecast.settings import AuthType, MimecastSettings
from airflow_provider_mimecast.signing import REQUEST_ID_HEADER, hmac_headers
from airflow_provider_mimecast.status import ImportStatus, normalize_import_ids
from airflow_provider_mimecast.uploads import load_upload

TOKEN_PATH = "/oauth/token"
GET_IMPORT_STATUS_PATH = "/api/user/get-import-status"
IMPORT_USERS_PATH = "/api/user/import-users"
#: The cheap authenticated call behind test_connection.
GET_ACCOUNT_PATH = "/api/account/get-account"
#: Integrations refresh bearer tokens this long before they expire.
TOKEN_REFRESH_MARGIN = 60.0
#: Longest wait between two retries of a server error or dropped connection.
MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True)
class _CachedToken:
    access_token: str
    refresh_at: float  # time.monotonic() after which the token is renewed

    def __repr__(self) -> str:
        return f"_CachedToken(access_token='***', refresh_at={self.refresh_at})"


class _TokenCache:
    """Bearer tokens shared by every hook in the process (sync and async), keyed by base URL and client ID."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], _CachedToken] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> str | None:
        with self._lock:
            cached = self._tokens.get(key)
        return cached.access_token if cached and time.monotonic() < cached.refresh_at else None

    def put(self, key: tuple[str, str], grant: TokenGrant) -> None:
        # A token shorter-lived than twice the margin is refreshed halfway through its life instead.
        margin = min(TOKEN_REFRESH_MARGIN, grant.expires_in / 2)
        with self._lock:
            self._tokens[key] = _CachedToken(grant.access_token, time.monotonic() + grant.expires_in - margin)

    def forget(self, key: tuple[str, str], access_token: str | None = None) -> None:
        with self._lock:
            cached = self._tokens.get(key)
            # Another caller may already have replaced the expired token with a fresh one.
            if cached and (access_token is None or cached.access_token == access_token):
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKEN_CACHE = _TokenCache()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~17 ms; clients are made per call, the context once per process.
    return httpx.create_ssl_context()


Exchange = Generator[httpx.Request, httpx.Response, dict[str, Any]]


@dataclass(frozen=True)
class _Call:
    """One logical API call; every attempt of it is built (and signed) anew from this."""

    path: str
    json_body: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] | None = None
    #: False for calls that must not be repeated once the server may have acted on them (uploads).
    idempotent: bool = True


class MimecastHook(BaseHook):
    """Calls Mimecast's user-import API with the credentials of a ``mimecast`` connection.

    Supports API 2.0 (OAuth 2.0 client credentials, the default) and API 1.0 (HMAC-signed requests).
    Every request has a timeout; rate limits, server errors and dropped connections are retried with
    backoff (rate limits after Mimecast's ``X-RateLimit-Reset``), other 4xx answers never.

    :param mimecast_conn_id: the ``mimecast`` connection to use.
    :param timeout: seconds for each HTTP request; overrides the connection's ``timeout`` extra.
    :param max_retries: retries after the first attempt; overrides the connection's ``max_retries`` extra.
    :param retry_delay: first backoff in seconds between retries of server errors (doubles each time,
        with jitter, up to 60 s).
    """

    conn_name_attr = "mimecast_conn_id"
    default_conn_name = "mimecast_default"
    conn_type = "mimecast"
    hook_name = "Mimecast"

    def __init__(
        self,
        mimecast_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_delay: float = 1.0,
    ) -> None:
        super().__init__()
        self.mimecast_conn_id = mimecast_conn_id
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self._settings: MimecastSettings | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mimecast_conn_id={self.mimecast_conn_id!r})"

    # ----------------------------------------------------------------- connection form metadata (2.11)
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the standard fields; read by Airflow before 3.2 (3.2+ reads the provider info instead)."""
        from airflow_provider_mimecast.get_provider_info import hook_field_behaviour

        return hook_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields for Airflow 2.11's connection form."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, PasswordField, StringField

        return {
            # Airflow 2.11's form accepts only string, integer, password and boolean fields.
            "auth_type": StringField(
                lazy_gettext("Auth type"),
                description="oauth2 (API 2.0, default) or hmac (API 1.0)",
                default="oauth2",
                widget=BS3TextFieldWidget(),
            ),
            "app_id": StringField(lazy_gettext("App ID (API 1.0)"), widget=BS3TextFieldWidget()),
            "app_key": PasswordField(lazy_gettext("App key (API 1.0)"), widget=BS3PasswordFieldWidget()),
            "timeout": IntegerField(
                lazy_gettext("Timeout (seconds)"), default=30, widget=BS3TextFieldWidget()
            ),
            "max_retries": IntegerField(lazy_gettext("Max retries"), default=5, widget=BS3TextFieldWidget()),
        }

    # ----------------------------------------------------------------- settings
    def _use_connection(
        self, host: str | None, login: str | None, password: str | None, extra: Mapping[str, Any]
    ) -> MimecastSettings:
        settings = MimecastSettings.from_connection_fields(
            host=host, login=login, password=password, extra=extra
        )
        for secret in settings.secrets:
            mask_secret(secret)
        self._settings = settings
        return settings

    @property
    def settings(self) -> MimecastSettings:
        """The validated connection settings (fetched once, synchronously)."""
        if self._settings is None:
            conn = self.get_connection(self.mimecast_conn_id)
            self._use_connection(conn.host, conn.login, conn.password, conn.extra_dejson)
        assert self._settings is not None
        return self._settings

    async def asettings(self) -> MimecastSettings:
        """The validated connection settings, fetched without blocking the event loop."""
        if self._settings is None:
            conn = await get_async_connection(self.mimecast_conn_id)
            self._use_connection(conn.host, conn.login, conn.password, conn.extra_dejson)
        assert self._settings is not None
        return self._settings

    def _timeout(self, settings: MimecastSettings) -> float:
        return self.timeout if self.timeout is not None else settings.timeout

    # ----------------------------------------------------------------- requests
    def _token_request(self, settings: MimecastSettings) -> httpx.Request:
        return httpx.Request(
            "POST",
            settings.base_url + TOKEN_PATH,
            data={
                "client_id": settings.login,
                "client_secret": settings.secret,
                "grant_type": "client_credentials",
            },
            headers={"Accept": "application/json", REQUEST_ID_HEADER: str(uuid.uuid4())},
        )

    def _api_request(self, settings: MimecastSettings, call: _Call, token: str | None) -> httpx.Request:
        if settings.auth_type is AuthType.HMAC:
            assert settings.app_id and settings.app_key  # checked by MimecastSettings
            auth = hmac_headers(
                access_key=settings.login,
                secret_key=settings.secret,
                app_id=settings.app_id,
                app_key=settings.app_key,
                uri=call.path,
            )
            # The signature is not registered with mask_secret: it is never logged, is valid only with
            # its own date and request ID, and registering one per request would grow Airflow's masker
            # pattern without bound (each registration recompiles it: ~5 ms, slower every time).
        else:
            auth = {"Authorization": f"Bearer {token}", REQUEST_ID_HEADER: str(uuid.uuid4())}
        headers = {"Accept": "application/json", **auth, **(call.headers or {})}
        if call.content is not None:
            return httpx.Request("POST", settings.base_url + call.path, content=call.content, headers=headers)
        headers["Content-Type"] = "application/json"
        body = json.dumps(call.json_body if call.json_body is not None else {"data": []}).encode()
        return httpx.Request("POST", settings.base_url + call.path, content=body, headers=headers)

    @staticmethod
    def _transport_error(request: httpx.Request, error: httpx.TransportError) -> MimecastTransportError:
        failure = MimecastTransportError(
            f"POST {request.url.path} to {request.url.host} got no answer: {type(error).__name__}"
            + (f" ({error})" if str(error) else ""),
            # Only a failure to connect proves the server never saw the request.
            request_sent=not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout),
            request_id=request.headers.get(REQUEST_ID_HEADER),
        )
        failure.path = request.url.path
        return failure

    @staticmethod
    def _check(request: httpx.Request, response: httpx.Response, *, show_body: bool = True) -> dict[str, Any]:
        try:
            return check_response(
                response.status_code,
                response.headers,
                response.content,
                path=request.url.path,
                request_id=response.headers.get(REQUEST_ID_HEADER) or request.headers.get(REQUEST_ID_HEADER),
                show_body=show_body,
            )
        except MimecastError as error:
            error.path = request.url.path
            raise

    def _retry_policy(self, settings: MimecastSettings, call: _Call) -> dict[str, Any]:
        retries = self.max_retries if self.max_retries is not None else settings.max_retries
        backoff = wait_exponential(multiplier=self.retry_delay, max=MAX_BACKOFF_SECONDS) + wait_random(
            0, self.retry_delay
        )

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, MimecastRateLimitError):
                # Mimecast did not execute the call; it asks us to wait at least until the reset.
                return error.retry_after
            return float(backoff(state))

        def retryable(error: BaseException) -> bool:
            if isinstance(error, MimecastRateLimitError):
                return True
            # Fetching a token is always safe to repeat, whatever the call it is for.
            idempotent = call.idempotent or getattr(error, "path", None) == TOKEN_PATH
            if isinstance(error, MimecastTransportError):
                return idempotent or not error.request_sent
            return idempotent and isinstance(error, MimecastServerError)

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            sleep = state.next_action.sleep if state.next_action else 0
            self.log.warning(
                "Mimecast %s failed (%s); retry %d of %d in %.1f s",
                call.path,
                error,
                state.attempt_number,
                retries,
                sleep,
            )

        return {
            "stop": stop_after_attempt(retries + 1),
            "wait": wait,
            "retry": retry_if_exception(retryable),
            "before_sleep": log_retry,
            "reraise": True,
        }

    # ----------------------------------------------------------------- one attempt, free of I/O
    def _exchange(self, settings: MimecastSettings, call: _Call) -> Exchange:
        """One attempt of ``call`` as a generator: it yields each request to send and is sent the
        response, so the same logic serves the sync and the async transport.
        """
        if settings.auth_type is AuthType.HMAC:
            request = self._api_request(settings, call, None)
            return self._check(request, (yield request))
        key = (settings.base_url, settings.login)
        token = yield from self._token_exchange(settings)
        request = self._api_request(settings, call, token)
        try:
            return self._check(request, (yield request))
        except MimecastTokenExpiredError:
            # One re-authentication and one retry, as Mimecast's own integrations do.
            TOKEN_CACHE.forget(key, token)
            token = yield from self._token_exchange(settings)
            request = self._api_request(settings, call, token)
            return self._check(request, (yield request))

    def _token_exchange(self, settings: MimecastSettings) -> Generator[httpx.Request, httpx.Response, str]:
        key = (settings.base_url, settings.login)
        token = TOKEN_CACHE.get(key)
        if token is None:
            request = self._token_request(settings)
            grant = parse_token_grant(self._check(request, (yield request), show_body=False))
            mask_secret(grant.access_token)
            TOKEN_CACHE.put(key, grant)
            token = grant.access_token
        return token

    # ----------------------------------------------------------------- transports
    def _post(self, call: _Call) -> dict[str, Any]:
        settings = self.settings
        with httpx.Client(timeout=self._timeout(settings), verify=_ssl_context()) as client:
            for attempt in Retrying(**self._retry_policy(settings, call)):
                with attempt:
                    exchange = self._exchange(settings, call)
                    request = next(exchange)
                    while True:
                        try:
                            response = client.send(request)
                        except httpx.TransportError as error:
                            raise self._transport_error(request, error) from None
                        try:
                            request = exchange.send(response)
                        except StopIteration as done:
                            return done.value
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _apost(self, call: _Call) -> dict[str, Any]:
        settings = await self.asettings()
        async with httpx.AsyncClient(timeout=self._timeout(settings), verify=_ssl_context()) as client:
            async for attempt in AsyncRetrying(**self._retry_policy(settings, call)):
                with attempt:
                    exchange = self._exchange(settings, call)
                    request = next(exchange)
                    while True:
                        try:
                            response = await client.send(request)
                        except httpx.TransportError as error:
                            raise self._transport_error(request, error) from None
                        try:
                            request = exchange.send(response)
                        except StopIteration as done:
                            return done.value
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    # ----------------------------------------------------------------- API
    @staticmethod
    def _status_call(import_ids: str | Sequence[str]) -> tuple[list[str], _Call]:
        ids = normalize_import_ids(import_ids if isinstance(import_ids, str) else list(import_ids))
        return ids, _Call(GET_IMPORT_STATUS_PATH, json_body={"data": [{"id": i} for i in ids]})

    @staticmethod
    def _statuses(ids: list[str], document: dict[str, Any]) -> list[ImportStatus]:
        by_id = {
            s.id: s for s in map(ImportStatus.from_api, envelope_data(document, path=GET_IMPORT_STATUS_PATH))
        }
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise MimecastInvalidResponseError(
                f"get-import-status answered without the import(s) {missing} and without a fail entry for them"
            )
        return [by_id[i] for i in ids]

    def get_import_status(self, import_ids: str | Sequence[str]) -> list[ImportStatus]:
        """Fetch the status of one or more imports in one request; results come in the order asked.

        :param import_ids: one import ID or a sequence of them, as returned by import-users.
        """
        ids, call = self._status_call(import_ids)
        return self._statuses(ids, self._post(call))

    async def aget_import_status(self, import_ids: str | Sequence[str]) -> list[ImportStatus]:
        """Async twin of :meth:`get_import_status` for triggers; never blocks the event loop.

        :param import_ids: one import ID or a sequence of them.
        """
        ids, call = self._status_call(import_ids)
        return self._statuses(ids, await self._apost(call))

    def test_connection(self) -> tuple[bool, str]:
        """Authenticate and call get-account; returns ``(ok, message)`` and never raises."""
        try:
            document = self._post(_Call(GET_ACCOUNT_PATH, json_body={"data": []}))
            accounts = envelope_data(document, path=GET_ACCOUNT_PATH)
        except MimecastError as error:
            return False, str(error)
        except Exception as error:  # test_connection must report, not raise
            return False, f"{type(error).__name__}: {error}"
        name = accounts[0].get("accountName") if accounts else None
        settings = self.settings
        return True, (
            f"Connected to Mimecast at {settings.base_url} with {settings.auth_type.value}"
            + (f" (account {name})" if name else "")
        )

    def import_users(
        self,
        source: Any,
        *,
        group_id: str,
        notify_email_address: str | None = None,
        clear_group: bool = False,
        allow_address_migration: bool = False,
        file_type: str | None = None,
        retry_ambiguous_failures: bool = False,
    ) -> str:
        """Start a user import and return its ID (for :meth:`get_import_status`).

        The file is checked before upload (exists, not empty; a CSV has a header and a user row and is
        sent ending with a newline). An upload that failed after Mimecast may have accepted it (a server
        error or a lost connection once the body was sent) is not retried, since a duplicate import is
        worse than a failed task: :class:`MimecastUploadNotRetriedError` says so.

        :param source: a local path, a ``pathlib.Path`` or ``ObjectStoragePath``, raw bytes, or rows
            (an iterable of dicts, written as CSV with the keys of the first row as header).
        :param group_id: secure ID of the profile group the users go into.
        :param notify_email_address: who Mimecast emails when the import completes.
        :param clear_group: empty the group before importing.
        :param allow_address_migration: place users by each row's ``accountCode`` (AAA structures).
        :param file_type: ``csv``, ``xlsx`` or ``xls``; by default the path's suffix, or csv.
        :param retry_ambiguous_failures: retry even after the server may have accepted the upload,
            accepting the risk of a duplicate import.
        """
        if not isinstance(group_id, str) or not group_id.strip():
            raise MimecastConfigurationError(
                "group_id is required: the secure ID of the profile group the users are imported into"
            )
        upload = load_upload(source, file_type=file_type)
        arguments: dict[str, Any] = {
            "groupId": group_id.strip(),
            "clearGroup": clear_group,
            "allowAddressMigration": allow_address_migration,
            "fileType": upload.file_type,
        }
        if notify_email_address:
            arguments["notifyEmailAddress"] = notify_email_address
        call = _Call(
            IMPORT_USERS_PATH,
            content=upload.content,
            headers={"x-mc-arg": json.dumps({"data": [arguments]}), "Content-Type": upload.content_type},
            idempotent=retry_ambiguous_failures,
        )
        self.log.info(
            "Uploading %r (%d bytes) to Mimecast group %s", upload.name, len(upload.content), group_id
        )
        try:
            document = self._post(call)
        except (MimecastServerError, MimecastTransportError) as error:
            never_sent = error.path != IMPORT_USERS_PATH or (
                isinstance(error, MimecastTransportError) and not error.request_sent
            )
            if retry_ambiguous_failures or never_sent:
                raise
            raise MimecastUploadNotRetriedError(
                f"The upload of {upload.name!r} failed after Mimecast may have accepted it ({error}). It was "
                "not retried, to avoid a duplicate import: check the Mimecast console's directory import "
                "list before running it again, or pass retry_ambiguous_failures=True to accept the risk",
                request_id=error.request_id,
            ) from error
        data = envelope_data(document, path=IMPORT_USERS_PATH)
        import_id = data[0].get("id") if data else None
        if not isinstance(import_id, str) or not import_id:
            returned = f"data[0] keys {sorted(data[0])}" if data else "an empty data list"
            raise MimecastInvalidResponseError(
                f"import-users succeeded but returned no import ID in data[0].id (got {returned}); the "
                "import may exist: check the Mimecast console before running the task again"
            )
        self.log.info("Mimecast accepted the import: id %s", import_id)
        return import_id
