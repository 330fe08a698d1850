"""An overall deadline for one blocking ``requests`` call.

requests' ``timeout`` bounds each socket operation, so a server that trickles its answer a byte at a time
never trips it. Here a watchdog timer shuts the connection in use down when the deadline passes:
``shutdown(SHUT_RDWR)`` wakes a ``recv``, ``send`` or TLS handshake blocked in the calling thread at once,
and urllib3 then closes the connection on the error that follows, so it never goes back to the pool
half-read. A streamed read loop was the alternative, but it bounds only the body: connecting through a
proxy, the TLS handshake, sending the body and waiting for the status line would still need a watchdog,
so the watchdog alone covers every phase with one mechanism.

The socket is only visible inside urllib3's connection, hence the connection subclasses. A requests call
runs wholly in the calling thread, so a thread-local tells a connection which send it serves. The watchdog
shuts down duplicates of the socket's file descriptor that this module owns and closes when the send
ends: it can never touch a descriptor that urllib3 has closed and the process has reused meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from types import TracebackType
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class Deadline:
    """Arms a watchdog for one send; use as a context manager around the whole call.

    :param seconds: time allowed for the request and the whole answer.
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._done = False
        #: The deadline passed: whatever the client returned or raised, the answer may be cut short.
        self.expired = False
        #: A watched connection was opened or taken from the pool for this send.
        self.connected = False
        #: The request line was about to be written on that connection.
        self.request_started = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.name = "mimecast-deadline"
        self._timer.daemon = True

    @property
    def proven_unsent(self) -> bool:
        """True only when a watched connection was used and no request was written to it."""
        return self.connected and not self.request_started

    def __enter__(self) -> Deadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        _current.deadline = None
        self._timer.cancel()
        with self._lock:
            self._done = True
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def watch(self, sock: socket.socket | None, *, request: bool) -> None:
        with self._lock:
            self.connected = True
            self.request_started = self.request_started or request
            if sock is None or self._done:
                return
            try:
                mine = socket.socket(fileno=os.dup(sock.fileno()))
            except OSError:  # already closed: nothing left to interrupt
                return
            self._sockets.append(mine)
            if self.expired:
                _shut(mine)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the peer got there first
        sock.shutdown(socket.SHUT_RDWR)


def _watch(sock: socket.socket | None, *, request: bool) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock, request=request)


class _Watched:
    """Hands each socket to the current send's :class:`Deadline`: when it is opened (before a TLS
    handshake, which a server can trickle as well) and when a request is written on it.
    """

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        _watch(sock, request=False)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        # A plain-http connection connects lazily inside request(); _new_conn then watches the socket.
        _watch(self.sock, request=True)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _Connection(_Watched, HTTPConnection):  # type: ignore[misc]
    pass


class _TLSConnection(_Watched, HTTPSConnection):  # type: ignore[misc]
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


_POOLS = {"http": _Pool, "https": _TLSPool}


class DeadlineAdapter(HTTPAdapter):
    """An adapter whose connections a :class:`Deadline` can interrupt, with urllib3's retries off, so
    that tenacity is the only retry layer. SOCKS proxies keep urllib3's own connections: their sends are
    bounded by the per-read timeout only.
    """

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme is poolmanager.pool_classes_by_scheme:
            manager.pool_classes_by_scheme = _POOLS
        return manager
