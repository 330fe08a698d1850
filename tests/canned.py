"""A real HTTP server with fixed answers, for the few responses the simulator never gives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN_ANSWER = {"access_token": "canned-access-token", "token_type": "Bearer", "expires_in": 1799}


@contextmanager
def canned_server(routes: Mapping[str, Any]) -> Iterator[str]:
    """Serve ``routes`` (path -> JSON document, answered with HTTP 200) and yield the base URL.

    ``/oauth/token`` answers a token unless ``routes`` says otherwise.
    """
    answers = {"/oauth/token": TOKEN_ANSWER, **routes}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            document = answers.get(self.path)
            body = json.dumps(document).encode()
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def envelope(*data: dict[str, Any]) -> dict[str, Any]:
    return {"meta": {"status": 200}, "data": list(data), "fail": []}
