"""The HTTP/1.1 server: keep-alive connections, one thread each, that all end when the simulator stops."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

from .responses import Response

#: Answers one request: (method, path, headers with lower-case names, body) -> response.
Responder = Callable[[str, str, dict[str, str], bytes], Response]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``), the only kind the simulator binds."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SimulatorHTTPServer(HTTPServer):
    """Serves each connection in its own daemon thread and can end them all, idle keep-alives included.

    :param address: (host, port) to bind.
    :param respond: answers each request.
    :param on_connection: called once per accepted connection.
    :param idle_timeout: seconds a connection may sit between requests before the server closes it.
    """

    # A burst of new connections (a hundred clients starting at once) must not overflow the accept queue,
    # which Linux answers with a silent SYN retry a second later.
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        respond: Responder,
        on_connection: Callable[[], None],
        idle_timeout: float,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.respond = respond
        self.on_connection = on_connection
        self.idle_timeout = idle_timeout
        #: Set when the simulator stops; slow answers (latency, trickle) wait on it so they end at once.
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        super().__init__(address, RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.on_connection()
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"mimecast-simulator-{self.server_address[1]}-connection",
            daemon=True,
        )
        with self._lock:
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._lock:
                self._connections.pop(request, None)
            self.shutdown_request(request)

    def close_connections(self, timeout: float) -> None:
        """End every open connection, waiting at most ``timeout`` seconds for their threads."""
        self.stopping.set()
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            # Wakes a thread blocked reading an idle keep-alive connection: it reads EOF and returns.
            # OSError: its own thread closed it meanwhile.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow answer hangs up, and stop() cuts connections: not server errors.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)) or (
            self.stopping.is_set() and isinstance(error, OSError)
        ):
            return
        super().handle_error(request, client_address)


class _TrickleWriter(io.BufferedIOBase):
    """Writes one byte at a time, ``delay`` seconds apart, so that no single read ever waits long."""

    def __init__(self, raw: io.BufferedIOBase, delay: float, stopping: threading.Event) -> None:
        super().__init__()
        self._raw, self._delay, self._stopping = raw, delay, stopping

    def write(self, data: Any) -> int:
        for index in range(len(data)):
            if self._stopping.wait(self._delay):
                raise ConnectionAbortedError("The simulator stopped while trickling an answer")
            self._raw.write(data[index : index + 1])
        return len(data)

    def flush(self) -> None:
        if not self._raw.closed:
            self._raw.flush()


class RequestHandler(BaseHTTPRequestHandler):
    """Reads one request at a time off a keep-alive connection and writes the simulator's answer."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client would wait for the
    # delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True
    server: SimulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        # Bounds how long an idle keep-alive connection holds a thread; a read timeout ends it quietly.
        self.connection.settimeout(self.server.idle_timeout)

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "Unreadable request body")  # also closes the connection
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.respond(self.command, urlsplit(self.path).path, headers, body)
        wfile = self.wfile
        if response.trickle_seconds > 0:
            self.wfile = _TrickleWriter(wfile, response.trickle_seconds, self.server.stopping)
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        finally:
            self.wfile = wfile

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
