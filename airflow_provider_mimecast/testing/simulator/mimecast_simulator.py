"""MimecastSimulator: the object tests drive, which ties the server, the API and the faults together."""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterable
from types import TracebackType
from typing import Any

from .auth import Authenticator
from .credentials import DEFAULT_CREDENTIALS, SimulatorCredentials, airflow_connection
from .directory import Directory, SimulatorGroup
from .endpoints import GET_IMPORT_STATUS_PATH, MimecastApi
from .faults import ANSWER_EDITS, Fault, FaultQueue, echo_page, edited_answer, fault_response, redirected
from .files import valid_email_row
from .http_server import SimulatorHTTPServer, is_loopback
from .imports import ImportStore, requested_ids
from .rate_limits import FAST_BUCKET, Bucket, RateLimiter
from .recording import RecordedRequest, RequestLog
from .responses import Response, rate_limited, v1_error


class MimecastSimulator:
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
        return self._imports.create(
            total_users=total_users,
            successful_imported_users=successful_imported_users,
            group_id=group_id,
            notify_email_address=notify_email_address,
            pending_seconds=pending_seconds,
            processing_seconds=processing_seconds,
            clear_group=clear_group,
            allow_address_migration=allow_address_migration,
        )

    def complete_imports(self, import_ids: Collection[str], *, after_seconds: float = 0.0) -> None:
        """Make imports complete ``after_seconds`` from now (``processing`` until then), whatever their
        timeline said: a test that disrupts a long wait decides when the wait may end.

        :param import_ids: IDs of existing imports; an import already completed stays completed.
        :param after_seconds: how long from now until they are ``completed``; 0 completes them at once.
        """
        if after_seconds < 0:
            raise ValueError(f"after_seconds must be 0 or more, got {after_seconds!r}")
        self._imports.complete_after(list(import_ids), after_seconds)

    def add_group(
        self, name: str, *, parent_id: str | None = None, source: str = "cloud", user_count: int = 0
    ) -> str:
        """Add a profile group to the directory that find-groups searches, and return its secure ID.

        A new simulator holds ``Directory Sync``, ``EMEA``, ``Americas`` and a ``Sales`` group in each of the
        last two, unless started with ``demo_groups=False``.

        :param name: the group's name (find-groups' ``description``).
        :param parent_id: the ID of the folder that holds it; None for the top of the directory.
        :param source: ``cloud`` or ``ldap``.
        :param user_count: reported as ``userCount`` until the simulator holds the group's members.
        """
        return self._directory.add(name, parent_id=parent_id, source=source, user_count=user_count)

    def groups(self) -> list[SimulatorGroup]:
        """Every group in the directory, oldest first."""
        return self._directory.groups()

    def add_group_members(self, group_id: str, members: Iterable[Any]) -> int:
        """Make ``members`` members of a group, as if added in the console; returns how many were new.

        :param group_id: the group's secure ID (any ID import-users would accept).
        :param members: addresses, ``(address, name)`` pairs, or dicts as get-group-members answers them.
        """
        return self._api.members.seed(group_id, members)

    def group_members(self, group_id: str) -> list[dict[str, Any]]:
        """The group's members now, as get-group-members answers them (completed imports applied).

        :param group_id: the group's secure ID.
        """
        return self._api.members.members(group_id)

    def revoke(self, *permissions: str) -> None:
        """Take role permissions away from the API user: their endpoints answer 403 until :meth:`grant`.

        :param permissions: e.g. ``"Directories | Groups | Read"`` (get-group-members).
        """
        self._api.revoked.update(permissions)

    def grant(self, *permissions: str) -> None:
        """Give back permissions taken with :meth:`revoke`.

        :param permissions: the permissions' names.
        """
        self._api.revoked.difference_update(permissions)

    def import_ids(self) -> list[str]:
        """IDs of every import that exists, oldest first (uploads and :meth:`create_import` alike)."""
        return self._imports.ids()

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each matching request consumes the oldest matching fault.

        :param faults: the faults, in the order they should fire.
        """
        self._faults.add(faults)

    def rate_limit_for(self, seconds: float) -> None:
        """Answer every API call with 429 for ``seconds`` from now, as when the account's limit is used up.

        Every caller sees the same window: ``X-RateLimit-Reset`` counts down to its end. The token
        endpoint is not limited, and queued faults wait until the window has passed.

        :param seconds: how long the window lasts; 0 ends an open one.
        """
        self._rates.limit_for(seconds)

    def set_rate_limit(self, bucket: Bucket) -> None:
        """Meter every API user's bucket with ``bucket`` from now on, each starting full.

        :param bucket: e.g. ``RECORDED_BUCKET`` (800, one added back every 5,000 ms) or
            ``Bucket(limit=200, refill=4, reset_ms=1000)``.
        """
        self._rates.configure(bucket)

    @property
    def rate_bucket(self) -> Bucket:
        """How each API user's bucket is metered now."""
        return self._rates.bucket

    def rate_remaining(self, auth_type: str = "oauth2") -> int:
        """What the bucket of the current credentials' API user holds now (``X-RateLimit-Remaining`` before
        the next call), without spending any.

        :param auth_type: ``oauth2`` for the client ID's bucket, ``hmac`` for the access key's.
        """
        if auth_type not in ("oauth2", "hmac"):
            raise ValueError(f"auth_type must be 'oauth2' or 'hmac', got {auth_type!r}")
        credentials = self.credentials
        user = f"client:{credentials.client_id}" if auth_type == "oauth2" else f"key:{credentials.access_key}"
        return self._rates.remaining(user)

    def unavailable_for(self, seconds: float, *, status: int = 503) -> None:
        """Answer every call, the token endpoint included, with a 5xx for ``seconds`` from now, as during an
        outage that a load balancer in front of Mimecast reports. Unlike :meth:`stop`, the calls are
        still counted. Queued faults wait until it has passed.

        :param seconds: how long the outage lasts; 0 ends an open one.
        :param status: the HTTP status answered, 500 to 599.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number of seconds, not below 0; got {seconds!r}")
        if not 500 <= status <= 599:
            raise ValueError(f"status must be from 500 to 599; got {status}")
        self._unavailable = (time.monotonic() + seconds, status)

    def expire_tokens(self) -> None:
        """Make every bearer token issued so far answer ``token_expired``."""
        self._auth.expire_tokens()

    def forget_tokens(self) -> None:
        """Forget every bearer token issued so far, as a restarted Mimecast would: they answer 401
        ``invalid_token``."""
        self._auth.forget_tokens()

    def set_credentials(self, credentials: SimulatorCredentials) -> None:
        """Accept ``credentials`` from now on instead of the current ones, as after a secret rotation in the
        Mimecast console. Tokens already issued stay valid until they expire.

        :param credentials: the new credentials (e.g. ``dataclasses.replace(sim.credentials,
            client_secret="...")``).
        """
        self.credentials = credentials
        self._auth.credentials = credentials

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
