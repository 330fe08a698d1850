"""MimecastSimulator: the object tests drive, which ties the server, the API and the faults together."""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable, Collection
from types import TracebackType
from typing import Any

from .auth import Authenticator
from .controls import SimulatorControls
from .credentials import DEFAULT_CREDENTIALS, SimulatorCredentials, airflow_connection
from .directory import Directory
from .endpoints import GET_IMPORT_STATUS_PATH, MimecastApi
from .faults import ANSWER_EDITS, FaultQueue, echo_page, edited_answer, fault_response, redirected
from .files import valid_email_row
from .http_server import SimulatorHTTPServer, is_loopback
from .imports import ImportStore, requested_ids
from .rate_limits import FAST_BUCKET, Bucket, RateLimiter
from .recording import RecordedRequest, RequestLog
from .responses import Response, rate_limited, v1_error


class MimecastSimulator(SimulatorControls):
    """An in-process Mimecast API on loopback, for tests and demos.

    :param host: loopback address to bind; anything else is refused, since the credentials are public.
    :param port: port to bind; 0 picks a free one (read :attr:`url` after :meth:`start`).
    :param credentials: the credentials the server accepts.
    :param pending_seconds: default time an import stays ``pending``.
    :param processing_seconds: default time an import then stays ``processing`` before ``completed``.
    :param pending_checks: how many status checks each import answers ``pending`` before its timeline
        counts, so that a test sees every import unfinished first however late its first check comes.
    :param token_ttl_seconds: lifetime of issued bearer tokens.
    :param rate_limit: the quota of each API user's bucket (``X-RateLimit-Limit``): requests it holds when
        full. One bucket per API user: every bearer token of one client ID shares it, as do all signatures
        of one access key. An empty bucket answers 429 without executing the call.
    :param rate_refill: requests added back to each bucket every ``rate_reset_ms`` (up to ``rate_limit``).
    :param rate_reset_ms: milliseconds between two refills; ``X-RateLimit-Reset`` counts down to the next.
        The defaults (1000, 100 every 100 ms) are fast for tests; what recorded Mimecast traffic shows (800,
        1 every 5,000 ms) is ``RECORDED_BUCKET``, for :meth:`set_rate_limit` (or the CLI's
        ``--recorded-rate-limit``).
    :param max_clock_skew_seconds: how far an API 1.0 ``x-mc-date`` may be from now.
    :param group_ids: when given, the only group IDs ``import-users`` accepts.
    :param accept_row: decides whether one user row (a dict keyed by the header row, ``email`` holding the
        checkpoint column's value) is imported successfully; defaults to :func:`valid_email_row`.
    :param max_recorded_requests: how many of the latest requests :attr:`requests` keeps; None keeps all.
        The counts (:meth:`request_counts`, :meth:`status_request_sizes`) stay exact either way.
    :param max_recorded_body_bytes: how much of each request body :attr:`requests` keeps; None keeps all.
        With ``max_recorded_requests`` set, the kept bodies also stay under 64 MiB in all (oldest dropped).
    :param idle_timeout_seconds: how long a keep-alive connection may sit idle before the server closes it.
    :param max_status_ids: the most import IDs one get-import-status call may ask about (Mimecast's API 2.0
        reference allows 10); more is refused as a validation error. None accepts any number.
    :param demo_groups: start the directory with a few profile groups (see :meth:`add_group`); False
        starts it empty.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        credentials: SimulatorCredentials = DEFAULT_CREDENTIALS,
        pending_seconds: float = 1.0,
        processing_seconds: float = 2.0,
        pending_checks: int = 0,
        token_ttl_seconds: int = 1799,
        rate_limit: int = FAST_BUCKET.limit,
        rate_refill: int = FAST_BUCKET.refill,
        rate_reset_ms: int = FAST_BUCKET.reset_ms,
        max_clock_skew_seconds: float = 900,
        group_ids: Collection[str] | None = None,
        accept_row: Callable[[dict[str, str]], bool] | None = None,
        max_recorded_requests: int | None = 10_000,
        max_recorded_body_bytes: int | None = 1 << 20,
        idle_timeout_seconds: float = 60.0,
        max_status_ids: int | None = 10,
        demo_groups: bool = True,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(
                f"Refusing to bind the Mimecast simulator to {host!r}: it accepts public demo credentials, "
                "so it only listens on loopback (127.0.0.1, ::1 or localhost)."
            )
        self.host = host
        self.port = port
        self.credentials = credentials
        self.idle_timeout_seconds = idle_timeout_seconds
        self._auth = Authenticator(credentials, token_ttl_seconds, max_clock_skew_seconds)
        if pending_checks < 0:
            raise ValueError(f"pending_checks must be 0 or more; got {pending_checks!r}")
        self._imports = ImportStore(pending_seconds, processing_seconds, pending_checks)
        self._directory = Directory()
        if demo_groups:
            self._directory.add_demo_groups()
        self._api = MimecastApi(
            self._auth,
            self._imports,
            group_ids,
            accept_row or valid_email_row,
            max_status_ids=max_status_ids,
            directory=self._directory,
        )
        self._directory.count_members = self._api.members.count
        self._rates = RateLimiter(Bucket(rate_limit, rate_refill, rate_reset_ms))
        self._faults = FaultQueue()
        self._unavailable = (-math.inf, 503)  # (until, status) of an unavailable_for() outage
        self._log = RequestLog(max_recorded_requests, max_recorded_body_bytes)
        self._server: SimulatorHTTPServer | None = None
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
        self._server = SimulatorHTTPServer(
            (self.host, self.port), self._serve, self._log.count_connection, self.idle_timeout_seconds
        )
        # A later start() (after stop()) binds the same port again, as a restarted Mimecast keeps its URL.
        self.port = self._server.server_address[1]
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
        """Stop serving, end open connections (idle keep-alives and slow answers too) and release the port.

        Safe to call twice. :meth:`start` serves again on the same port, with the same imports, tokens and
        counts (call :meth:`forget_tokens` too to act as a restarted server).
        """
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.close_connections(timeout=2.0)
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> MimecastSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- this simulator as a connection (the other test controls are in controls.py) ----------------

    def airflow_connection(self, auth_type: str = "oauth2", **extra: Any) -> str:
        """This simulator as a ``mimecast`` connection (JSON for ``AIRFLOW_CONN_<ID>``).

        :param auth_type: ``oauth2`` (API 2.0) or ``hmac`` (API 1.0).
        :param extra: further extra fields, e.g. ``timeout``.
        """
        return airflow_connection(self.url, auth_type, credentials=self.credentials, **extra)

    # -- what the server saw ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The latest requests received (up to ``max_recorded_requests``), oldest first (a snapshot)."""
        return self._log.requests()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to one path.

        :param path: e.g. ``/api/user/import-users``.
        """
        return [request for request in self.requests if request.path == path]

    def request_counts(self) -> dict[str, int]:
        """How many requests each path received, e.g. ``{"/oauth/token": 1, ...}``; exact, never capped."""
        return self._log.counts()

    def status_request_sizes(self) -> list[int]:
        """How many import IDs each get-import-status request carried, in arrival order (0 if unreadable)."""
        return self._log.status_sizes()

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far: a keep-alive client reuses one instead of opening more."""
        return self._log.connections

    def reset_counts(self) -> None:
        """Forget every request and connection seen so far, e.g. after a warm-up."""
        self._log.reset()

    # -- request handling ---------------------------------------------------------------------------

    def _serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        try:
            response = self._dispatch(method, path, headers, body)
        except Exception:
            # Surface simulator bugs loudly instead of leaving the client with a dropped connection.
            traceback.print_exc()
            response = v1_error(500, "err_internal", "Simulator error", retryable=True)
        ids_carried = None
        if path == GET_IMPORT_STATUS_PATH:
            ids_carried = len(requested_ids(body) or ())
        # Recorded before answering, so a test sees the request as soon as its client has the response.
        self._log.record(method, path, headers, body, response.status, ids_carried)
        return response

    def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        is_api = path.startswith("/api/")
        until, status = self._unavailable
        if time.monotonic() < until:
            return v1_error(status, "err_service_unavailable", "The service is unavailable", retryable=True)
        if is_api and (reset_ms := self._rates.forced_reset_ms()) is not None:
            return rate_limited(self._rates.limit, reset_ms)
        fault = self._faults.take(path)
        if fault is not None and fault.kind == "latency":
            if self._server is not None:
                self._server.stopping.wait(fault.delay)
            fault = None
        if fault is not None and fault.kind == "echo":
            return echo_page(fault, method, path, headers, body)
        if fault is not None and fault.kind == "rate_limit":
            # Another limit than the bucket's (an endpoint's own): the bucket's level, nothing spent. The token
            # endpoint spends from no bucket: its Remaining is the whole limit.
            api_user = self._auth.api_user(headers)
            remaining = self._rates.remaining(api_user) if is_api else self._rates.limit
            return rate_limited(self._rates.limit, fault.reset_ms, remaining)
        rate = self._rates.take(self._auth.api_user(headers)) if is_api else None
        if fault is not None and fault.kind in ANSWER_EDITS:
            response = self._api.answer(method, path, headers, body, rate)
            if rate is not None:
                response.headers.update(rate.headers())
            return (
                edited_answer(response, fault, self._imports) if path == GET_IMPORT_STATUS_PATH else response
            )
        if fault is None or fault.kind in ("server_error", "trickle", "redirect"):
            # These execute the request: a lost answer to import-users still created the import, which
            # is exactly what tests of blind retries need to detect.
            response = self._api.answer(method, path, headers, body, rate)
            if rate is not None:
                response.headers.update(rate.headers())
            if fault is None:
                return response
            if fault.kind == "trickle":
                response.trickle_seconds = fault.delay
                return response
            if fault.kind == "redirect":
                return redirected(response, fault)
        return fault_response(fault, rate, self._rates.limit)
