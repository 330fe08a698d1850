"""What the server saw: exact counts per path and per status request, and a bounded log of the requests."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RecordedRequest:
    """One request the simulator received, with the status it answered.

    :param truncated_from: the body's real length when :attr:`body` was cut to the simulator's
        ``max_recorded_body_bytes``; None when ``body`` is the whole body.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    response_status: int
    truncated_from: int | None = None


class RequestLog:
    """Counts every request exactly and keeps the most recent ones; safe to use from many threads.

    Counts cost a few bytes per request whatever the traffic; the kept requests are capped, so a
    benchmark's thousands of requests (or a large upload) do not pile up in memory: with ``max_requests``
    set, the oldest are also dropped once the kept bodies pass :attr:`max_kept_body_bytes` in all.

    :param max_requests: how many recent requests to keep; None keeps all.
    :param max_body_bytes: how much of each body to keep; None keeps all.
    """

    max_kept_body_bytes = 64 << 20

    def __init__(self, max_requests: int | None, max_body_bytes: int | None) -> None:
        for name, value in (
            ("max_recorded_requests", max_requests),
            ("max_recorded_body_bytes", max_body_bytes),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(
                    f"{name} must be a whole number, 0 or more, or None for no limit; got {value!r}"
                )
        self._max_body_bytes = max_body_bytes
        self._lock = threading.Lock()
        self._requests: deque[RecordedRequest] = deque(maxlen=max_requests)
        self._counts: Counter[str] = Counter()
        self._status_sizes: list[int] = []
        self._connections = 0
        self._kept_body_bytes = 0

    def record(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        response_status: int,
        ids_carried: int | None = None,
    ) -> None:
        """Count and keep one answered request.

        :param ids_carried: for a get-import-status request, how many import IDs it asked about.
        """
        truncated_from = None
        if self._max_body_bytes is not None and len(body) > self._max_body_bytes:
            truncated_from, body = len(body), body[: self._max_body_bytes]
        request = RecordedRequest(method, path, headers, body, response_status, truncated_from)
        with self._lock:
            if self._requests.maxlen is not None:
                if len(self._requests) == self._requests.maxlen:
                    self._kept_body_bytes -= len(self._requests[0].body)
                while self._requests and self._kept_body_bytes + len(body) > self.max_kept_body_bytes:
                    self._kept_body_bytes -= len(self._requests.popleft().body)
                self._kept_body_bytes += len(body)
            self._requests.append(request)
            self._counts[path] += 1
            if ids_carried is not None:
                self._status_sizes.append(ids_carried)

    def count_connection(self) -> None:
        with self._lock:
            self._connections += 1

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def status_sizes(self) -> list[int]:
        with self._lock:
            return list(self._status_sizes)

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._kept_body_bytes = 0
            self._counts.clear()
            self._status_sizes.clear()
            self._connections = 0
