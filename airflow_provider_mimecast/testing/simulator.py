"""A local Mimecast API simulator: a real HTTP server on loopback.

It speaks just enough of Mimecast's API for the provider's user-import flow: the API 2.0 token
endpoint, bearer and API 1.0 HMAC authentication, ``import-users``, ``get-import-status`` and
``get-account``, with Mimecast's response envelope, rate-limit headers and injectable faults.

Use it in tests as a context manager::

    with MimecastSimulator(pending_seconds=0.05, processing_seconds=0.05) as sim:
        import_id = sim.create_import(total_users=3)
        ...  # point a client at sim.url

or from a shell: ``python -m airflow_provider_mimecast.testing.simulator --port 8025``.

It deliberately imports nothing from Airflow, so that it starts fast and runs standalone.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hmac
import io
import ipaddress
import json
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, NamedTuple, cast
from urllib.parse import parse_qs, urlsplit

from airflow_provider_mimecast.signing import APP_ID_HEADER, DATE_HEADER, REQUEST_ID_HEADER, sign_request

__all__ = [
    "DEFAULT_CREDENTIALS",
    "Fault",
    "MimecastSimulator",
    "RecordedRequest",
    "SimulatorCredentials",
    "airflow_connection",
    "main",
    "valid_email_row",
]

TOKEN_PATH = "/oauth/token"
GET_IMPORT_STATUS_PATH = "/api/user/get-import-status"
IMPORT_USERS_PATH = "/api/user/import-users"
GET_ACCOUNT_PATH = "/api/account/get-account"

FAULT_KINDS = frozenset(
    {
        "rate_limit",
        "server_error",
        "latency",
        "token_expired",
        "binding_expired",
        "malformed",
        "empty",
        "invalid_signature",
    }
)

_FILE_TYPES = frozenset({"csv", "xlsx", "xls"})
_IMPORTER = "admin@sim.example"
_INVALID_SIGNATURE = "0004 Invalid Signature"


@dataclass(frozen=True)
class SimulatorCredentials:
    """The credentials the simulator accepts.

    :param client_id: API 2.0 client ID.
    :param client_secret: API 2.0 client secret.
    :param access_key: API 1.0 access key.
    :param secret_key: API 1.0 secret key, Base64 as Mimecast issues it.
    :param app_id: API 1.0 application ID.
    :param app_key: API 1.0 application key.
    """

    client_id: str
    client_secret: str = field(repr=False)
    access_key: str
    secret_key: str = field(repr=False)
    app_id: str
    app_key: str = field(repr=False)


#: Public demo values: the simulator is a loopback-only test double, so these are not secrets.
DEFAULT_CREDENTIALS = SimulatorCredentials(
    client_id="mimecast-simulator-client",
    client_secret="mimecast-simulator-client-secret",
    access_key="mimecast-simulator-access-key",
    secret_key=base64.b64encode(b"mimecast-simulator-secret").decode("ascii"),
    app_id="mimecast-simulator-app",
    app_key="mimecast-simulator-app-key",
)


@dataclass(frozen=True)
class Fault:
    """A misbehaviour to inject into the simulator's next matching request(s).

    :param kind: one of ``rate_limit``, ``server_error``, ``latency``, ``token_expired``,
        ``binding_expired``, ``malformed``, ``empty``, ``invalid_signature``.
    :param path: only requests to this path are affected; ``None`` matches every path,
        ``/oauth/token`` included.
    :param times: how many matching requests it affects before it is used up.
    :param status: the HTTP status of a ``server_error``.
    :param reset_ms: the ``X-RateLimit-Reset`` value of a ``rate_limit``, in milliseconds.
    :param delay: seconds a ``latency`` fault waits before the request is answered normally.
    """

    kind: str
    path: str | None = None
    times: int = 1
    status: int = 500
    reset_ms: int = 1000
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.times < 1:
            raise ValueError("Fault.times must be at least 1")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulator received, with the status it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    response_status: int


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class _Rate(NamedTuple):
    limit: int
    used: int
    reset_ms: int

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> dict[str, str]:
        return _rate_headers(self.limit, max(0, self.limit - self.used), self.reset_ms)


def _secure_id() -> str:
    # Mimecast secure IDs are long opaque url-safe strings that often start with "eNo1".
    return "eNo1" + secrets.token_urlsafe(27)


@dataclass
class _QueuedFault:
    fault: Fault
    remaining: int


@dataclass
class _Import:
    id: str
    created_at: float
    created_wall: datetime
    total_users: int
    successful_imported_users: int
    group_id: str
    notify_email_address: str | None
    pending_seconds: float
    processing_seconds: float
    clear_group: bool
    allow_address_migration: bool
    source_file: str = field(default_factory=_secure_id)
    report_file: str = field(default_factory=_secure_id)

    def status_at(self, now: float) -> str:
        elapsed = now - self.created_at
        if elapsed < self.pending_seconds:
            return "pending"
        if elapsed < self.pending_seconds + self.processing_seconds:
            return "processing"
        return "completed"

    def to_json(self, now: float) -> dict[str, Any]:
        status = self.status_at(now)
        return {
            "id": self.id,
            "status": status,
            "importer": _IMPORTER,
            "notifyEmailAddress": self.notify_email_address,
            "created": self.created_wall.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "totalUsers": self.total_users,
            "successfulImportedUsers": self.successful_imported_users if status == "completed" else 0,
            "clearGroup": self.clear_group,
            "allowAddressMigration": self.allow_address_migration,
            "sourceFile": self.source_file,
            "reportFile": self.report_file,
        }


def _rate_headers(limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset_ms),
    }


def _envelope(status: int, data: list[Any] | None = None, fail: list[Any] | None = None) -> _Response:
    payload = {"meta": {"status": status}, "data": data or [], "fail": fail or []}
    return _Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def _v1_error(
    status: int, code: str, message: str, *, retryable: bool = False, field: str | None = None
) -> _Response:
    """An error in API 1.0's shape: the code sits inside ``fail[].errors[]``."""
    error: dict[str, Any] = {"code": code, "message": message, "retryable": retryable}
    if field is not None:
        error["field"] = field
    return _envelope(status, fail=[{"errors": [error]}])


def _v2_error(status: int, code: str, message: str) -> _Response:
    """An error in API 2.0's shape: the code sits directly on the ``fail`` entry."""
    return _envelope(status, fail=[{"code": code, "message": message}])


def _rate_limited() -> _Response:
    return _v1_error(429, "err_rate_limit_exceeded", "Rate limit exceeded", retryable=True)


def airflow_connection(
    url: str,
    auth_type: str = "oauth2",
    *,
    credentials: SimulatorCredentials = DEFAULT_CREDENTIALS,
    **extra: Any,
) -> str:
    """A ``mimecast`` connection as JSON for an ``AIRFLOW_CONN_<ID>`` variable.

    :param url: the base URL, e.g. :attr:`MimecastSimulator.url`.
    :param auth_type: ``oauth2`` (API 2.0) or ``hmac`` (API 1.0).
    :param credentials: the credentials to put in it.
    :param extra: further extra fields, e.g. ``timeout``.
    """
    if auth_type == "oauth2":
        login, password = credentials.client_id, credentials.client_secret
    elif auth_type == "hmac":
        login, password = credentials.access_key, credentials.secret_key
        extra = {"app_id": credentials.app_id, "app_key": credentials.app_key, **extra}
    else:
        raise ValueError(f"auth_type must be 'oauth2' or 'hmac', got {auth_type!r}")
    return json.dumps(
        {
            "conn_type": "mimecast",
            "host": url,
            "login": login,
            "password": password,
            "extra": {"auth_type": auth_type, **extra},
        }
    )


def valid_email_row(row: dict[str, str]) -> bool:
    """The default import rule: a row is imported when its ``emailAddress`` column looks like an address.

    :param row: one CSV data row, keyed by the header line's column names.
    """
    value = next((v for k, v in row.items() if k.strip().lower() == "emailaddress"), "").strip()
    local, _, domain = value.partition("@")
    labels = domain.split(".")
    return value.count("@") == 1 and bool(local) and len(labels) >= 2 and all(labels) and " " not in value


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: MimecastSimulator) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.simulator = simulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow answer (the latency fault) hangs up: not a server error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    def _handle(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "Unreadable request body")
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        simulator = cast(_Server, self.server).simulator
        response = simulator._serve(self.command, urlsplit(self.path).path, headers, body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle

    def _read_body(self) -> bytes:
        # http.server does not decode chunked uploads, and a streamed file upload would otherwise
        # look like an empty file.
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and the CLI should not get a line per request on stderr."""


class MimecastSimulator:
    """An in-process Mimecast API on loopback, for tests and demos.

    :param host: loopback address to bind; anything else is refused, since the credentials are public.
    :param port: port to bind; 0 picks a free one (read :attr:`url` after :meth:`start`).
    :param credentials: the credentials the server accepts.
    :param pending_seconds: default time an import stays ``pending``.
    :param processing_seconds: default time an import then stays ``processing`` before ``completed``.
    :param token_ttl_seconds: lifetime of issued bearer tokens.
    :param rate_limit: calls allowed per credential per window before answering 429.
    :param rate_limit_window_seconds: length of the fixed rate-limit window.
    :param max_clock_skew_seconds: how far an API 1.0 ``x-mc-date`` may be from now.
    :param group_ids: when given, the only group IDs ``import-users`` accepts.
    :param accept_row: decides whether one CSV row is imported successfully; defaults to
        :func:`valid_email_row`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        credentials: SimulatorCredentials = DEFAULT_CREDENTIALS,
        pending_seconds: float = 1.0,
        processing_seconds: float = 2.0,
        token_ttl_seconds: int = 1799,
        rate_limit: int = 1000,
        rate_limit_window_seconds: float = 60.0,
        max_clock_skew_seconds: float = 900,
        group_ids: Collection[str] | None = None,
        accept_row: Callable[[dict[str, str]], bool] | None = None,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(
                f"Refusing to bind the Mimecast simulator to {host!r}: it accepts public demo credentials, "
                "so it only listens on loopback (127.0.0.1, ::1 or localhost)."
            )
        self.host = host
        self.port = port
        self.credentials = credentials
        self.pending_seconds = pending_seconds
        self.processing_seconds = processing_seconds
        self.token_ttl_seconds = token_ttl_seconds
        self.rate_limit = rate_limit
        self.rate_limit_window_seconds = rate_limit_window_seconds
        self.max_clock_skew_seconds = max_clock_skew_seconds
        self.group_ids = frozenset(group_ids) if group_ids is not None else None
        self.accept_row = accept_row or valid_email_row

        self._lock = threading.Lock()
        self._imports: dict[str, _Import] = {}
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._seen_request_ids: set[str] = set()
        self._faults: list[_QueuedFault] = []
        self._windows: dict[str, tuple[float, int]] = {}  # credential -> (window start, count)
        self._requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("The simulator is not running: call start() first")
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> MimecastSimulator:
        """Bind and serve in a daemon thread; return ``self``."""
        if self._server is not None:
            raise RuntimeError("The simulator is already running")
        self._server = _Server((self.host, self.port), self)
        # A short poll interval keeps stop() fast, which matters for test suites.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="mimecast-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> MimecastSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- test controls ------------------------------------------------------------------------------

    def create_import(
        self,
        *,
        total_users: int = 10,
        successful_imported_users: int | None = None,
        group_id: str = "sim-group",
        notify_email_address: str | None = None,
        pending_seconds: float | None = None,
        processing_seconds: float | None = None,
        clear_group: bool = False,
        allow_address_migration: bool = False,
    ) -> str:
        """Create an import as if it had just been uploaded, and return its ID.

        :param total_users: rows in the imaginary file.
        :param successful_imported_users: users reported once completed; defaults to ``total_users``.
        :param group_id: the profile group the import targets.
        :param notify_email_address: reported back as ``notifyEmailAddress``.
        :param pending_seconds: this import's pending time, instead of the simulator's default.
        :param processing_seconds: this import's processing time, instead of the simulator's default.
        :param clear_group: reported back as ``clearGroup``.
        :param allow_address_migration: reported back as ``allowAddressMigration``.
        """
        successful = total_users if successful_imported_users is None else successful_imported_users
        if not 0 <= successful <= total_users:
            raise ValueError("successful_imported_users must be between 0 and total_users")
        record = _Import(
            id=_secure_id(),
            created_at=time.monotonic(),
            created_wall=datetime.now(timezone.utc),
            total_users=total_users,
            successful_imported_users=successful,
            group_id=group_id,
            notify_email_address=notify_email_address,
            pending_seconds=self.pending_seconds if pending_seconds is None else pending_seconds,
            processing_seconds=self.processing_seconds if processing_seconds is None else processing_seconds,
            clear_group=clear_group,
            allow_address_migration=allow_address_migration,
        )
        with self._lock:
            self._imports[record.id] = record
        return record.id

    def import_ids(self) -> list[str]:
        """IDs of every import that exists, oldest first (uploads and :meth:`create_import` alike)."""
        with self._lock:
            return list(self._imports)

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each matching request consumes the oldest matching fault.

        :param faults: the faults, in the order they should fire.
        """
        with self._lock:
            self._faults.extend(_QueuedFault(fault, fault.times) for fault in faults)

    def expire_tokens(self) -> None:
        """Make every bearer token issued so far answer ``token_expired``."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = float("-inf")

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in the order they were answered (a snapshot)."""
        with self._lock:
            return list(self._requests)

    def airflow_connection(self, auth_type: str = "oauth2", **extra: Any) -> str:
        """This simulator as a ``mimecast`` connection (JSON for ``AIRFLOW_CONN_<ID>``).

        :param auth_type: ``oauth2`` (API 2.0) or ``hmac`` (API 1.0).
        :param extra: further extra fields, e.g. ``timeout``.
        """
        return airflow_connection(self.url, auth_type, credentials=self.credentials, **extra)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to one path.

        :param path: e.g. ``/api/user/import-users``.
        """
        return [request for request in self.requests if request.path == path]

    # -- request handling ---------------------------------------------------------------------------

    def _serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Response:
        try:
            response = self._dispatch(method, path, headers, body)
        except Exception:
            # Surface simulator bugs loudly instead of leaving the client with a dropped connection.
            traceback.print_exc()
            response = _v1_error(500, "err_internal", "Simulator error", retryable=True)
        # Recorded before answering, so a test sees the request as soon as its client has the response.
        with self._lock:
            self._requests.append(RecordedRequest(method, path, headers, body, response.status))
        return response

    def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Response:
        fault = self._take_fault(path)
        if fault is not None and fault.kind == "latency":
            time.sleep(fault.delay)
            fault = None
        rate = self._count_rate(headers) if path.startswith("/api/") else None
        if fault is None:
            response = self._route(method, path, headers, body, rate)
            if rate is not None:
                response.headers.update(rate.headers())
            return response
        if fault.kind == "server_error":
            # The request is executed and only the answer is lost: a blind retry of import-users then
            # creates a second import, which is exactly what tests need to be able to detect.
            self._route(method, path, headers, body, rate)
        return self._fault_response(fault, rate)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for queued in self._faults:
                if queued.fault.path in (None, path):
                    queued.remaining -= 1
                    if queued.remaining == 0:
                        self._faults.remove(queued)
                    return queued.fault
        return None

    def _count_rate(self, headers: dict[str, str]) -> _Rate:
        key = self._rate_key(headers.get("authorization", ""))
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self.rate_limit_window_seconds:
                start, count = now, 0
            count += 1
            self._windows[key] = (start, count)
        reset_ms = max(0, round((start + self.rate_limit_window_seconds - now) * 1000))
        return _Rate(self.rate_limit, count, reset_ms)

    @staticmethod
    def _rate_key(authorization: str) -> str:
        # Counted before authentication (a 429 means the call was not executed), so the key is taken
        # from the header as sent: all bearer tokens belong to the one API 2.0 client.
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return "bearer"
        if scheme == "MC":
            return "mc:" + value.partition(":")[0]
        return "anonymous"

    def _fault_response(self, fault: Fault, rate: _Rate | None) -> _Response:
        if fault.kind == "malformed":
            # What a proxy in front of the API answers: no envelope, no rate-limit headers.
            html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return _Response(502, html, {"Content-Type": "text/html"})
        if fault.kind == "rate_limit":
            response = _rate_limited()
            response.headers.update(_rate_headers(self.rate_limit, 0, fault.reset_ms))
            return response
        if fault.kind == "server_error":
            response = _v1_error(fault.status, "err_internal", "Internal server error", retryable=True)
        elif fault.kind == "token_expired":
            response = _v2_error(401, "token_expired", "The access token has expired")
        elif fault.kind == "binding_expired":
            response = _v1_error(418, "err_xdk_binding_expired", "The binding has expired")
        elif fault.kind == "invalid_signature":
            response = _v1_error(401, "err_xdk_invalid_signature", _INVALID_SIGNATURE)
        else:  # empty
            response = _Response(200, b"", {"Content-Type": "application/json"})
        if rate is not None:
            response.headers.update(rate.headers())
        return response

    def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes, rate: _Rate | None
    ) -> _Response:
        handlers: dict[str, Callable[[dict[str, str], bytes], _Response]] = {
            GET_IMPORT_STATUS_PATH: self._get_import_status,
            IMPORT_USERS_PATH: self._import_users,
            GET_ACCOUNT_PATH: self._get_account,
        }
        if path != TOKEN_PATH and path not in handlers:
            return _v1_error(404, "err_not_found", f"No such endpoint: {path}")
        if method != "POST":
            return _v1_error(405, "err_method_not_allowed", f"{method} is not allowed; use POST")
        if path == TOKEN_PATH:
            return self._issue_token(body)
        if rate is not None and rate.exceeded:
            return _rate_limited()
        return self._authenticate(path, headers) or handlers[path](headers, body)

    def _issue_token(self, body: bytes) -> _Response:
        form = {name: values[-1] for name, values in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return _v2_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        expected = self.credentials
        client_ok = hmac.compare_digest(form.get("client_id", ""), expected.client_id)
        secret_ok = hmac.compare_digest(form.get("client_secret", ""), expected.client_secret)
        if not (client_ok and secret_ok):
            return _v2_error(401, "invalid_client", "Invalid client credentials")
        token = uuid.uuid4().hex
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_seconds
        payload = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_ttl_seconds,
            "scope": "",
        }
        return _Response(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _authenticate(self, path: str, headers: dict[str, str]) -> _Response | None:
        """Return the 401 to answer, or None when the request is authenticated."""
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            with self._lock:
                expiry = self._tokens.get(value.strip())
            if expiry is None:
                return _v2_error(401, "invalid_token", "The access token is not valid")
            if time.monotonic() >= expiry:
                return _v2_error(401, "token_expired", "The access token has expired")
            return None
        if scheme == "MC" and ":" in value:
            return self._authenticate_hmac(path, headers, value)
        return _v1_error(401, "err_xdk_missing_authorization", "Missing or unsupported Authorization header")

    def _authenticate_hmac(self, path: str, headers: dict[str, str], value: str) -> _Response | None:
        expected = self.credentials
        for name in (DATE_HEADER, REQUEST_ID_HEADER, APP_ID_HEADER):
            if not headers.get(name):
                return _v1_error(
                    401, "err_xdk_invalid_signature", f"{_INVALID_SIGNATURE}: missing {name} header"
                )
        if headers[APP_ID_HEADER] != expected.app_id:
            return _v1_error(401, "err_xdk_invalid_app_id", "Invalid application ID")
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
            return _v1_error(401, "err_xdk_invalid_signature", _INVALID_SIGNATURE)
        try:
            sent = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return _v1_error(
                401, "err_xdk_invalid_signature", f"{_INVALID_SIGNATURE}: unreadable x-mc-date {date!r}"
            )
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=timezone.utc)
        if abs((datetime.now(timezone.utc) - sent).total_seconds()) > self.max_clock_skew_seconds:
            return _v1_error(
                401,
                "err_xdk_invalid_signature",
                f"{_INVALID_SIGNATURE}: x-mc-date {date!r} is more than "
                f"{self.max_clock_skew_seconds:g} s away from the server's clock",
            )
        with self._lock:
            replayed = request_id in self._seen_request_ids
            self._seen_request_ids.add(request_id)
        if replayed:
            return _v1_error(401, "err_xdk_duplicate_request_id", f"Request ID {request_id} was already used")
        return None

    def _get_account(self, headers: dict[str, str], body: bytes) -> _Response:
        account = {
            "accountName": "Mimecast Simulator",
            "accountCode": "CSIM0A0",
            "region": "sim",
            "mailboxes": 0,
        }
        return _envelope(200, data=[account])

    def _get_import_status(self, headers: dict[str, str], body: bytes) -> _Response:
        ids = _requested_ids(body)
        if ids is None:
            message = 'The request body must be {"data": [{"id": "<import id>"}, ...]}'
            return _v1_error(400, "err_validation_null", message, field="id")
        now = time.monotonic()
        data, fail = [], []
        with self._lock:
            for import_id in ids:
                record = self._imports.get(import_id)
                if record is not None:
                    data.append(record.to_json(now))
                    continue
                error = {
                    "code": "err_import_not_found",
                    "message": f"Import {import_id} not found",
                    "retryable": False,
                }
                fail.append({"key": {"id": import_id}, "errors": [error]})
        return _envelope(200, data=data, fail=fail)

    def _import_users(self, headers: dict[str, str], body: bytes) -> _Response:
        try:
            params = json.loads(headers["x-mc-arg"])["data"][0]
            if not isinstance(params, dict):
                raise TypeError
        except (KeyError, ValueError, TypeError, IndexError):
            message = 'The x-mc-arg header must be JSON like {"data": [{"groupId": ..., "fileType": "csv"}]}'
            return _v1_error(400, "err_validation_null", message, field="x-mc-arg")
        group_id = params.get("groupId")
        if not isinstance(group_id, str) or not group_id.strip():
            return _v1_error(400, "err_validation_blank", "groupId must not be blank", field="groupId")
        if self.group_ids is not None and group_id not in self.group_ids:
            return _v1_error(400, "err_group_not_found", f"Group {group_id} not found", field="groupId")
        file_type = params.get("fileType")
        if not isinstance(file_type, str) or file_type.lower() not in _FILE_TYPES:
            message = f"fileType must be one of csv, xlsx, xls, not {file_type!r}"
            return _v1_error(400, "err_validation_invalid_file_type", message, field="fileType")
        if not body:
            return _v1_error(400, "err_validation_empty_file", "The file is empty", field="file")
        if file_type.lower() == "csv":
            counted = self._count_csv(body)
            if isinstance(counted, _Response):
                return counted
            total, successful = counted
        else:
            # Spreadsheets cannot be read with the standard library: pretend they hold one good row.
            total = successful = 1
        notify = params.get("notifyEmailAddress")
        import_id = self.create_import(
            total_users=total,
            successful_imported_users=successful,
            group_id=group_id,
            notify_email_address=notify if isinstance(notify, str) else None,
            clear_group=params.get("clearGroup") is True,
            allow_address_migration=params.get("allowAddressMigration") is True,
        )
        return _envelope(200, data=[{"id": import_id}])

    def _count_csv(self, body: bytes) -> tuple[int, int] | _Response:
        """Return (total rows, accepted rows), or the 400 to answer."""
        if not body.endswith(b"\n"):
            message = "A CSV file must end with a newline"
            return _v1_error(400, "err_validation_csv_trailing_newline", message, field="file")
        try:
            reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))
            rows = [
                {key: value for key, value in row.items() if isinstance(key, str) and isinstance(value, str)}
                for row in reader
            ]
        except (UnicodeDecodeError, csv.Error) as exc:
            return _v1_error(
                400, "err_validation_invalid_file", f"The CSV file cannot be read: {exc}", field="file"
            )
        # A line of bare separators is not a user.
        rows = [row for row in rows if any(value.strip() for value in row.values())]
        if not rows:
            return _v1_error(400, "err_validation_empty_file", "The CSV file has no data rows", field="file")
        return len(rows), sum(1 for row in rows if self.accept_row(row))


def _requested_ids(body: bytes) -> list[str] | None:
    """The import IDs of a get-import-status body, or None when it is not ``{"data": [{"id": ...}]}``."""
    try:
        items = json.loads(body)["data"]
        ids = [item["id"] for item in items]
    except (ValueError, KeyError, TypeError):
        return None
    if not ids or not all(isinstance(id_, str) and id_ for id_ in ids):
        return None
    return ids


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until Ctrl-C or SIGTERM.

    :param argv: command-line arguments; ``sys.argv[1:]`` when None.
    """
    parser = argparse.ArgumentParser(
        prog="mimecast-simulator", description="Serve a local Mimecast API simulator on loopback."
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8025, help="port to bind; 0 picks a free one (default 8025)"
    )
    parser.add_argument("--pending-seconds", type=float, default=1.0, help="time an import stays pending")
    parser.add_argument(
        "--processing-seconds", type=float, default=2.0, help="time an import stays processing"
    )
    parser.add_argument("--seed-import", type=int, default=0, metavar="N", help="create N imports at start")
    args = parser.parse_args(argv)
    if not _is_loopback(args.host):
        parser.error(f"--host {args.host} is not a loopback address; the simulator's credentials are public")

    simulator = MimecastSimulator(
        args.host, args.port, pending_seconds=args.pending_seconds, processing_seconds=args.processing_seconds
    )

    try:
        simulator.start()
    except OSError as exc:
        print(f"mimecast-simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    def request_stop(signum: int, frame: FrameType | None) -> None:
        # Unwinding like Ctrl-C lets the finally block stop the server cleanly.
        raise KeyboardInterrupt

    # signal.signal only works in the main thread; main() called from elsewhere relies on Ctrl-C alone.
    previous_sigterm = None
    if threading.current_thread() is threading.main_thread():
        previous_sigterm = signal.signal(signal.SIGTERM, request_stop)
    try:
        creds = simulator.credentials
        print(f"Mimecast simulator listening on {simulator.url}", flush=True)
        print(f"API 2.0 client ID:       {creds.client_id}")
        print(f"API 2.0 client secret:   {creds.client_secret}")
        print(f"API 1.0 access key:      {creds.access_key}")
        print(f"API 1.0 secret key:      {creds.secret_key}")
        print(f"API 1.0 application ID:  {creds.app_id}")
        print(f"API 1.0 application key: {creds.app_key}")
        for _ in range(args.seed_import):
            print(f"Seeded import: {simulator.create_import()}")
        print("Press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
