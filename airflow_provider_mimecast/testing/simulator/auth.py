"""Authentication as Mimecast does it: the API 2.0 token endpoint, bearer tokens and API 1.0 HMAC signatures."""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs

from airflow_provider_mimecast.signing import APP_ID_HEADER, DATE_HEADER, REQUEST_ID_HEADER, sign_request

from .credentials import SimulatorCredentials
from .responses import Response, v1_error, v2_error

INVALID_SIGNATURE = "0004 Invalid Signature"


class Authenticator:
    """Issues bearer tokens and checks the ``Authorization`` of API calls; safe to use from many threads.

    :param credentials: the credentials accepted.
    :param token_ttl_seconds: lifetime of issued bearer tokens.
    :param max_clock_skew_seconds: how far an API 1.0 ``x-mc-date`` may be from now.
    """

    def __init__(
        self, credentials: SimulatorCredentials, token_ttl_seconds: int, max_clock_skew_seconds: float
    ) -> None:
        self.credentials = credentials
        self.token_ttl_seconds = token_ttl_seconds
        self.max_clock_skew_seconds = max_clock_skew_seconds
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._token_clients: dict[str, str] = {}  # token -> the client ID it was issued to
        self._seen_request_ids: set[str] = set()

    def issue_token(self, body: bytes) -> Response:
        """Answer a ``client_credentials`` grant posted to ``/oauth/token``."""
        form = {name: values[-1] for name, values in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return v2_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        expected = self.credentials
        client_ok = hmac.compare_digest(form.get("client_id", ""), expected.client_id)
        secret_ok = hmac.compare_digest(form.get("client_secret", ""), expected.client_secret)
        if not (client_ok and secret_ok):
            return v2_error(401, "invalid_client", "Invalid client credentials")
        token = uuid.uuid4().hex
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_seconds
            self._token_clients[token] = expected.client_id
        payload = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_ttl_seconds,
            "scope": "",
        }
        return Response(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def forget_tokens(self) -> None:
        """Forget every bearer token issued so far, as a restarted server does: they answer ``invalid_token``."""
        with self._lock:
            self._tokens.clear()
            self._token_clients.clear()

    def expire_tokens(self) -> None:
        """Make every bearer token issued so far answer ``token_expired``."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = float("-inf")

    def api_user(self, headers: dict[str, str]) -> str:
        """Whose rate-limit bucket a call spends, read before authentication (a 429 executes nothing): every
        bearer token issued to one client ID is that client's, every HMAC signature one access key's.

        :param headers: request headers, names in lower case.
        """
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            with self._lock:
                client_id = self._token_clients.get(value.strip())
            return f"client:{client_id}" if client_id is not None else "unknown-token"
        if scheme == "MC":
            return "key:" + value.partition(":")[0]
        return "anonymous"

    def authenticate(self, path: str, headers: dict[str, str]) -> Response | None:
        """Return the 401 to answer, or None when the request is authenticated.

        :param path: the request path, which an API 1.0 signature covers.
        :param headers: request headers, names in lower case.
        """
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            with self._lock:
                expiry = self._tokens.get(value.strip())
            if expiry is None:
                return v2_error(401, "invalid_token", "The access token is not valid")
            if time.monotonic() >= expiry:
                return v2_error(401, "token_expired", "The access token has expired")
            return None
        if scheme == "MC" and ":" in value:
            return self._authenticate_hmac(path, headers, value)
        return v1_error(401, "err_xdk_missing_authorization", "Missing or unsupported Authorization header")

    def _authenticate_hmac(self, path: str, headers: dict[str, str], value: str) -> Response | None:
        expected = self.credentials
        for name in (DATE_HEADER, REQUEST_ID_HEADER, APP_ID_HEADER):
            if not headers.get(name):
                return v1_error(
                    401, "err_xdk_invalid_signature", f"{INVALID_SIGNATURE}: missing {name} header"
                )
        if headers[APP_ID_HEADER] != expected.app_id:
            return v1_error(401, "err_xdk_invalid_app_id", "Invalid application ID")
        access_key, _, signature = value.partition(":")
        date, request_id = headers[DATE_HEADER], headers[REQUEST_ID_HEADER]
        wanted = sign_request(
            secret_key=expected.secret_key,
            date=date,
            request_id=request_id,
            uri=path,
            app_key=expected.app_key,
        )
        key_ok = hmac.compare_digest(access_key, expected.access_key)
        if not (key_ok and hmac.compare_digest(signature.strip(), wanted)):
            return v1_error(401, "err_xdk_invalid_signature", INVALID_SIGNATURE)
        try:
            sent = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return v1_error(
                401, "err_xdk_invalid_signature", f"{INVALID_SIGNATURE}: unreadable x-mc-date {date!r}"
            )
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=timezone.utc)
        if abs((datetime.now(timezone.utc) - sent).total_seconds()) > self.max_clock_skew_seconds:
            return v1_error(
                401,
                "err_xdk_invalid_signature",
                f"{INVALID_SIGNATURE}: x-mc-date {date!r} is more than "
                f"{self.max_clock_skew_seconds:g} s away from the server's clock",
            )
        with self._lock:
            replayed = request_id in self._seen_request_ids
            self._seen_request_ids.add(request_id)
        if replayed:
            return v1_error(401, "err_xdk_duplicate_request_id", f"Request ID {request_id} was already used")
        return None
