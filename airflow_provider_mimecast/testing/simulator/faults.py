"""Fault injection: the misbehaviours a test can queue, and the answers they produce."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from http import HTTPStatus

from .auth import INVALID_SIGNATURE
from .endpoints import TOKEN_PATH
from .imports import ImportStore
from .rate_limits import Rate
from .responses import Response, v1_error, v2_error

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
        "trickle",
        "redirect",
        "echo",
        "omit_ids",
        "extra_ids",
        "bare_401",
        "retryable_fail",
    }
)
#: Kinds that let the API answer get-import-status and then change which imports the answer holds.
ANSWER_EDITS = frozenset({"omit_ids", "extra_ids", "retryable_fail"})

# kind -> (default status, lowest allowed, highest allowed), for the kinds whose status can be chosen.
_STATUSES = {"server_error": (500, 400, 599), "redirect": (302, 300, 399), "echo": (502, 200, 599)}


@dataclass(frozen=True)
class Fault:
    """A misbehaviour to inject into the simulator's next matching request(s).

    ``server_error``, ``trickle`` and ``redirect`` execute the request before answering, as a server that
    lost or garbled its answer would; ``latency`` then answers normally; ``omit_ids``, ``extra_ids`` and
    ``retryable_fail`` answer get-import-status and then edit the answer; the other kinds never reach the API.

    :param kind: one of ``rate_limit`` (a 429 of another limit than the API user's bucket, such as an
        endpoint's own: ``X-RateLimit-Remaining`` says what the bucket holds, nothing is spent or executed),
        ``server_error``, ``latency``, ``token_expired``,
        ``binding_expired``, ``malformed`` (a proxy's HTML 502), ``empty`` (200 with no body),
        ``invalid_signature``, ``trickle`` (the normal answer, one byte every ``delay`` seconds),
        ``redirect`` (the normal answer's envelope under a 3xx status with a ``Location``) or ``echo`` (an
        HTML error page quoting the request's headers and body back, as some proxies do; with ``as_json``,
        Mimecast's error envelope whose message quotes them).
    :param path: only requests to this path are affected; ``None`` matches every path,
        ``/oauth/token`` included.
    :param times: how many matching requests it affects before it is used up.
    :param status: the HTTP status of a ``server_error`` (default 500), ``redirect`` (default 302) or
        ``echo`` (default 502).
    :param reset_ms: the ``X-RateLimit-Reset`` value of a ``rate_limit``, in milliseconds.
    :param delay: seconds a ``latency`` fault waits before answering, or a ``trickle`` waits before each byte.
    :param location: the ``Location`` header of a ``redirect``.
    :param as_json: an ``echo`` answers Mimecast's JSON error shape (API 2.0's on ``/oauth/token``, API
        1.0's elsewhere) instead of an HTML page.
    :param import_ids: the imports an ``omit_ids`` leaves out, an ``extra_ids`` adds, or a ``retryable_fail``
        answers with a ``fail`` entry marked ``retryable`` instead of their status (default: every asked ID).
    """

    kind: str
    path: str | None = None
    times: int = 1
    status: int | None = None
    reset_ms: int = 1000
    delay: float = 0.0
    location: str = "/login"
    as_json: bool = False
    import_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.times < 1:
            raise ValueError("Fault.times must be at least 1")
        if not (math.isfinite(self.delay) and self.delay >= 0):
            raise ValueError(
                f"Fault.delay must be a finite number of seconds, not below 0; got {self.delay!r}"
            )
        if isinstance(self.import_ids, str):
            raise ValueError("Fault.import_ids is a tuple of import IDs, not one string")
        object.__setattr__(self, "import_ids", tuple(self.import_ids))
        if self.kind == "trickle" and self.delay <= 0:
            raise ValueError("Fault('trickle') needs delay > 0: the seconds to wait before each byte")
        if self.kind in _STATUSES:
            default, low, high = _STATUSES[self.kind]
            if self.status is None:
                object.__setattr__(self, "status", default)
            elif not low <= self.status <= high:
                raise ValueError(
                    f"Fault({self.kind!r}) needs a status from {low} to {high}; got status={self.status}"
                )


@dataclass
class _Queued:
    fault: Fault
    remaining: int


class FaultQueue:
    """Faults waiting for their requests; safe to use from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []

    def add(self, faults: tuple[Fault, ...]) -> None:
        with self._lock:
            self._queue.extend(_Queued(fault, fault.times) for fault in faults)

    def take(self, path: str) -> Fault | None:
        """Use up one turn of the oldest fault that matches this path, and return it."""
        with self._lock:
            for queued in self._queue:
                if queued.fault.path in (None, path):
                    queued.remaining -= 1
                    if queued.remaining == 0:
                        self._queue.remove(queued)
                    return queued.fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


def fault_response(fault: Fault, rate: Rate | None, rate_limit: int) -> Response:
    """The answer of a fault that replaces the API's answer altogether."""
    if fault.kind == "malformed":
        # What a proxy in front of the API answers: no envelope, no rate-limit headers.
        html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        return Response(502, html, {"Content-Type": "text/html"})
    if fault.kind == "server_error":
        assert fault.status is not None
        response = v1_error(fault.status, "err_internal", "Internal server error", retryable=True)
    elif fault.kind == "token_expired":
        response = v2_error(401, "token_expired", "The access token has expired")
    elif fault.kind == "binding_expired":
        response = v1_error(418, "err_xdk_binding_expired", "The binding has expired")
    elif fault.kind == "invalid_signature":
        response = v1_error(401, "err_xdk_invalid_signature", INVALID_SIGNATURE)
    elif fault.kind == "bare_401":
        # What an API gateway answers for a token it does not accept: no envelope at all.
        response = Response(401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    elif fault.kind == "empty":
        response = Response(200, b"", {"Content-Type": "application/json"})
    else:
        raise ValueError(f"Fault({fault.kind!r}) does not replace the answer")
    if rate is not None:
        response.headers.update(rate.headers())
    return response


def edited_answer(response: Response, fault: Fault, imports: ImportStore) -> Response:
    """A get-import-status answer with imports left out (``omit_ids``) or added (``extra_ids``)."""
    try:
        document = json.loads(response.body)
        data = document["data"]
    except (ValueError, KeyError, TypeError):
        return response  # an error answer: nothing to edit
    if not isinstance(data, list):
        return response
    if fault.kind == "omit_ids":
        wanted = set(fault.import_ids)
        kept = [item for item in data if item.get("id") not in wanted] if wanted else data[:-1]
    elif fault.kind == "retryable_fail":
        # Mimecast marks some errors retryable; which codes it uses for a status it cannot give is not
        # published, so the code is the simulator's own.
        wanted = set(fault.import_ids) or {item.get("id") for item in data}
        kept = [item for item in data if item.get("id") not in wanted]
        failing = [item["id"] for item in data if item.get("id") in wanted]
        document["fail"] = [*document.get("fail", []), *map(_retryable_fail_entry, failing)]
    else:
        added = imports.statuses(list(fault.import_ids))[0] if fault.import_ids else [imports.phantom()]
        kept = [*data, *added]
    document["data"] = kept
    response.body = json.dumps(document).encode()
    return response


def _retryable_fail_entry(import_id: str) -> dict[str, object]:
    error = {
        "code": "err_import_status_unavailable",
        "message": f"The status of import {import_id} is temporarily unavailable",
        "retryable": True,
    }
    return {"key": {"id": import_id}, "errors": [error]}


def echo_page(fault: Fault, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
    """An error that quotes the request back verbatim, secrets and all, as a careless proxy or server does."""
    assert fault.status is not None
    request = f"{method} {path}\n" + "".join(f"{name}: {value}\n" for name, value in headers.items())
    if fault.as_json:
        message = f"Rejected request: {request}\n{body.decode('utf-8', 'replace')}"
        if path == TOKEN_PATH:
            return v2_error(fault.status, "invalid_request", message)
        return v1_error(fault.status, "err_request_rejected", message)
    try:
        phrase = HTTPStatus(fault.status).phrase
    except ValueError:
        phrase = "Error"
    title = f"{fault.status} {phrase}"
    page = (
        (
            f"<html><head><title>{title}</title></head><body><h1>{title}</h1>\n"
            f"<p>The upstream server could not handle this request:</p>\n<pre>{request}\n"
        ).encode()
        + body
        + b"</pre></body></html>\n"
    )
    return Response(fault.status, page, {"Content-Type": "text/html; charset=utf-8"})


def redirected(response: Response, fault: Fault) -> Response:
    """The API's own answer, envelope and all, under the fault's 3xx status."""
    assert fault.status is not None
    response.status = fault.status
    response.headers["Location"] = fault.location
    return response
