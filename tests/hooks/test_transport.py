"""The HTTP transports against real local servers: overall deadlines, sent / never-sent, TLS, keep-alive.

Each server here is a few lines of http.server whose answer the request's last path segment picks, so a
test can produce a trickle, a hang-up after the body or a TLS mismatch over a real socket. requests-mock
is used only for client exceptions that no server can provoke on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import http.server
import ipaddress
import json
import os
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import requests
import requests_mock
import urllib3.connection
import urllib3.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from airflow_provider_mimecast.errors import MimecastConfigurationError, MimecastTransportError
from airflow_provider_mimecast.hooks.calls import ApiRequest, ApiResponse
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.hooks.sync_transport import SyncTransport
from airflow_provider_mimecast.hooks.transport import AsyncTransport
from tests.conftest import oauth_connection

SECRET_TOKEN = "Bearer tok-3f9a-secret"
TRICKLE_SECONDS = 0.1
#: Slack for thread start-up and a loaded machine; the deadline itself is timeout + 0.1 s.
MARGIN = 0.6


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.01)
    return True


# --------------------------------------------------------------------------------------------- servers
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: Server

    def setup(self) -> None:
        if self.server.tls is not None:
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()
        self.server.count("accepted")

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.count("finished")

    def log_message(self, *args: Any) -> None:
        pass

    def trickle(self, data: bytes) -> None:
        for byte in data:
            if self.server.stopping.wait(TRICKLE_SECONDS):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the client hung up
                self.close_connection = True
                return

    def do_POST(self) -> None:
        kind = self.path.rsplit("/", 1)[-1]
        length = int(self.headers.get("Content-Length") or 0)
        if kind == "slow-read":  # takes the upload in 64 KiB a tick: steady progress, never done in time
            with contextlib.suppress(OSError):
                while length > 0 and not self.server.stopping.wait(TRICKLE_SECONDS):
                    chunk = self.rfile.read(min(length, 64 * 1024))
                    if not chunk:
                        break
                    length -= len(chunk)
            self.close_connection = True
            return
        body = self.rfile.read(length)
        self.server.received.append((self.path, body))
        if kind == "close":
            self.close_connection = True
        elif kind == "reset":  # RST instead of FIN: the client sees a reset, not an orderly close
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.close_connection = True
        elif kind == "trickle-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.trickle(b"X-Slow: " + b"a" * 200 + b"\r\n\r\n")
            self.close_connection = True
        elif kind == "trickle-body":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
            self.trickle(b"b" * 200)
            self.close_connection = True
        elif kind == "trickle-until-close":  # no length: the body ends where the connection does
            self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            self.trickle(b"c" * 200)
            self.close_connection = True
        else:
            status = 302 if kind == "redirect" else 200
            answer = json.dumps({"path": self.path, "body": body.decode()}).encode()
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.stopping = threading.Event()
        self.received: list[tuple[str, bytes]] = []
        self.counts = {"accepted": 0, "finished": 0}
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused handshakes and hung-up clients are what these tests provoke

    def url(self, kind: str, scheme: str | None = None) -> str:
        scheme = scheme or ("https" if self.tls else "http")
        return f"{scheme}://127.0.0.1:{self.server_port}/api/{kind}"

    def all_connections_closed(self) -> bool:
        return self.counts["finished"] == self.counts["accepted"]


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with running(Server()) as started:
        yield started


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: Any, issuer: x509.Certificate | None, issuer_key: Any
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An inspecting proxy's CA, a server certificate it signed for 127.0.0.1, and an unrelated CA."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key, other_key, server_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("Proxy CA", ca_key, None, ca_key)
    paths = {name: directory / f"{name}.pem" for name in ("ca", "other-ca", "server", "server-key")}
    paths["ca"].write_bytes(_pem(ca))
    paths["other-ca"].write_bytes(_pem(_certificate("Other CA", other_key, None, other_key)))
    paths["server"].write_bytes(_pem(_certificate("127.0.0.1", server_key, ca, ca_key)))
    paths["server-key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def tls_server(pki: dict[str, Path]) -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server"], pki["server-key"])
    with running(Server(tls=context)) as started:
        yield started


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# --------------------------------------------------------------------------------------------- clients
def api_request(url: str, body: bytes = b'{"data": []}') -> ApiRequest:
    path = "/" + url.split("/", 3)[3]
    headers = {"Authorization": SECRET_TOKEN, "x-mc-req-id": "req-1", "Content-Type": "application/json"}
    return ApiRequest(url, path, headers, body)


class Client:
    """Either transport behind one blocking interface, so that each test runs against both."""

    def __init__(self, kind: str, timeout: float = 2.0, **options: Any) -> None:
        self.kind = kind
        self._loop = asyncio.new_event_loop() if kind == "async" else None
        self._transport = (
            AsyncTransport(timeout, **options) if self._loop else SyncTransport(timeout, **options)
        )

    def send(self, url: str, body: bytes = b'{"data": []}') -> ApiResponse:
        if isinstance(self._transport, AsyncTransport):
            assert self._loop is not None
            return self._loop.run_until_complete(self._transport.send(api_request(url, body)))
        return self._transport.send(api_request(url, body))

    def close(self) -> None:
        if isinstance(self._transport, AsyncTransport):
            assert self._loop is not None
            self._loop.run_until_complete(self._transport.aclose())
            self._loop.close()
        else:
            self._transport.close()


@pytest.fixture(params=["sync", "async"])
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(client_kind: str) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(timeout: float = 2.0, **options: Any) -> Client:
        made.append(Client(client_kind, timeout, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def deadline_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "mimecast-deadline"]


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------- keep-alive
def test_answers_come_back_whole_over_one_kept_alive_connection(server, make_client):
    client = make_client()
    answers = [client.send(server.url("ok"), body=f'{{"n": {n}}}'.encode()) for n in range(3)]
    assert [json.loads(a.body)["body"] for a in answers] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    assert all(a.status_code == 200 and a.headers["content-type"] == "application/json" for a in answers)
    assert server.counts["accepted"] == 1


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
def test_close_releases_every_connection_socket_and_thread(server, client_kind):
    gc.collect()  # sockets an earlier test left unreferenced must not close during this count
    before = open_descriptors()
    client = Client(client_kind, timeout=0.5)
    client.send(server.url("ok"))
    with pytest.raises(MimecastTransportError):
        client.send(server.url("trickle-body"))
    client.send(server.url("ok"))
    client.close()
    assert wait_for(server.all_connections_closed), server.counts
    assert wait_for(lambda: open_descriptors() == before), (open_descriptors(), before)
    assert wait_for(lambda: not deadline_threads())


def test_a_redirect_is_returned_not_followed(server, make_client):
    answer = make_client().send(server.url("redirect"))
    assert (answer.status_code, answer.headers["location"]) == (302, "http://127.0.0.1:9/elsewhere")
    assert [path for path, _ in server.received] == ["/api/redirect"]


# --------------------------------------------------------------------------------------------- deadline
@pytest.mark.parametrize("kind", ["trickle-headers", "trickle-body", "trickle-until-close"])
def test_a_trickling_answer_is_cut_off_at_the_timeout(server, make_client, kind):
    client = make_client(timeout=0.5)
    started = time.monotonic()
    with pytest.raises(MimecastTransportError, match=r"no complete answer within 0\.5 s") as caught:
        client.send(server.url(kind))
    assert time.monotonic() - started < 0.5 + MARGIN
    assert caught.value.request_sent and caught.value.transient
    # The connection was dropped, not kept half-read: the next call opens a new one and gets its answer.
    assert wait_for(server.all_connections_closed), server.counts
    assert client.send(server.url("ok")).status_code == 200
    assert server.counts["accepted"] == 2


def test_an_upload_the_server_reads_slowly_is_cut_off_at_the_timeout(make_client):
    with running(Server()) as slow:
        client = make_client(timeout=0.5)
        started = time.monotonic()
        with pytest.raises(MimecastTransportError, match=r"within 0\.5 s") as caught:
            client.send(slow.url("slow-read"), body=b"x" * (8 << 20))
        assert time.monotonic() - started < 0.5 + MARGIN
        assert caught.value.request_sent


# --------------------------------------------------------------------------------------------- sent or not
@pytest.mark.parametrize("kind", ["close", "reset"])
def test_a_connection_lost_after_the_body_left_may_have_been_acted_on(server, make_client, kind):
    with pytest.raises(MimecastTransportError, match=r"got no answer") as caught:
        make_client().send(server.url(kind), body=b"upload")
    assert caught.value.request_sent and caught.value.transient
    # Sent once: no retry layer inside the client re-sends it.
    assert server.received == [(f"/api/{kind}", b"upload")]


def test_a_refused_connection_was_never_sent(make_client):
    with pytest.raises(MimecastTransportError, match=r"ConnectError \(") as caught:
        make_client().send(f"http://127.0.0.1:{unused_port()}/api/ok")
    assert caught.value.request_sent is False and caught.value.transient


def _with_cause(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


def _pool_error(reason: BaseException) -> urllib3.exceptions.MaxRetryError:
    return urllib3.exceptions.MaxRetryError(None, "/api/x", reason)  # type: ignore[arg-type]


_CONNECTION = urllib3.connection.HTTPConnection("127.0.0.1", 9)


@pytest.mark.parametrize(
    ("error", "sent", "transient", "message"),
    [
        (
            requests.exceptions.ConnectTimeout(
                _pool_error(
                    _with_cause(
                        urllib3.exceptions.ConnectTimeoutError(_CONNECTION, "timed out"), TimeoutError()
                    )
                )
            ),
            False,
            True,
            "ConnectTimeout",
        ),
        (
            requests.exceptions.ProxyError(
                _pool_error(
                    urllib3.exceptions.ProxyError(
                        "Unable to connect to proxy",
                        urllib3.exceptions.NewConnectionError(_CONNECTION, "Connection refused"),
                    )
                )
            ),
            False,
            True,
            "ConnectError",
        ),
        (
            requests.exceptions.ChunkedEncodingError(
                urllib3.exceptions.ProtocolError("Response ended prematurely")
            ),
            True,
            True,
            "ProtocolError",
        ),
        (requests.exceptions.ContentDecodingError("gzip: invalid header"), True, True, "ContentDecoding"),
        (requests.exceptions.ReadTimeout("read timed out"), True, True, r"ReadTimeout \(no complete"),
        (
            requests.exceptions.InvalidHeader(f"Invalid return character in header: {SECRET_TOKEN}\r\n"),
            False,
            False,
            "InvalidHeader",
        ),
        # Without a watched connection nothing proves the request did not leave.
        (
            requests.exceptions.SSLError(
                _pool_error(urllib3.exceptions.SSLError(ssl.SSLError(1, "decryption failed")))
            ),
            True,
            False,
            "TLS failed",
        ),
    ],
)
def test_client_exceptions_map_to_sent_and_transient(error, sent, transient, message):
    transport = SyncTransport(1.0)
    url = "http://127.0.0.1:9/api/x"
    with requests_mock.Mocker() as mock, pytest.raises(MimecastTransportError, match=message) as caught:
        mock.post(url, exc=error)
        transport.send(api_request(url))
    assert (caught.value.request_sent, caught.value.transient) == (sent, transient)
    assert "tok-3f9a" not in str(caught.value)
    transport.close()


# --------------------------------------------------------------------------------------------- TLS
def test_verify_with_a_ca_bundle_path_trusts_that_ca(tls_server, make_client, pki):
    assert make_client(verify=str(pki["ca"])).send(tls_server.url("ok")).status_code == 200


def test_verify_false_skips_verification(tls_server, make_client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        assert make_client(verify=False).send(tls_server.url("ok")).status_code == 200


def test_an_untrusted_certificate_fails_at_once_with_the_hint(tls_server, make_client):
    started = time.monotonic()
    with pytest.raises(MimecastTransportError, match=r"TLS failed.*'verify' extra") as caught:
        make_client().send(tls_server.url("ok"))
    assert time.monotonic() - started < 1.0
    assert (caught.value.request_sent, caught.value.transient) == (False, False)
    assert tls_server.received == []


def test_https_to_a_plain_http_server_fails_at_once_with_the_hint(server, make_client):
    started = time.monotonic()
    with pytest.raises(MimecastTransportError, match=r"TLS failed.*plain http://") as caught:
        make_client().send(server.url("ok", scheme="https"))
    assert time.monotonic() - started < 1.0
    assert (caught.value.request_sent, caught.value.transient) == (False, False)


async def test_the_async_client_reuses_the_ca_bundle_read_off_the_event_loop(monkeypatch):
    # In a real triggerer the client read the bundle again in the event loop, stalling every trigger
    # 0.3-0.6 s: the read in a worker thread had been cached under another key.
    from airflow_provider_mimecast.hooks import transport

    read_in: list[str] = []
    real = transport.httpx.create_ssl_context

    def recording(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        read_in.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(transport.httpx, "create_ssl_context", recording)
    transport._ssl_context.cache_clear()
    try:
        await transport.load_tls_context(True)
        await AsyncTransport(5.0, verify=True).aclose()
    finally:
        transport._ssl_context.cache_clear()  # nothing built with the recording stub outlives the test
    assert len(read_in) == 1 and read_in[0] != threading.current_thread().name


def test_an_unreadable_ca_bundle_is_a_configuration_error(client_kind, tmp_path):
    not_pem = tmp_path / "bundle.pem"
    not_pem.write_text("not a certificate")
    for path in (tmp_path / "missing.pem", not_pem):
        with pytest.raises(MimecastConfigurationError, match=r"'verify' setting .*PEM"):
            Client(client_kind, verify=str(path))


def test_a_bad_requests_ca_bundle_is_a_configuration_error(tmp_path, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(MimecastConfigurationError, match=r"^REQUESTS_CA_BUNDLE .*missing\.pem"):
        SyncTransport(2.0).send(api_request(f"https://127.0.0.1:{unused_port()}/api/ok"))


def test_sync_honours_requests_ca_bundle_unless_verify_says_otherwise(tls_server, pki, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki["ca"]))
    assert SyncTransport(2.0).send(api_request(tls_server.url("ok"))).status_code == 200
    # A bundle given in the connection wins over the environment's.
    with pytest.raises(MimecastTransportError, match="TLS failed"):
        SyncTransport(2.0, verify=str(pki["other-ca"])).send(api_request(tls_server.url("ok")))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki["other-ca"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        assert SyncTransport(2.0, verify=False).send(api_request(tls_server.url("ok"))).status_code == 200


# --------------------------------------------------------------------------------------------- proxies
def test_sync_goes_through_the_proxy_of_the_environment(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_port}")
    # The proxy is asked for the absolute URL; the target host is never resolved or contacted.
    SyncTransport(2.0).send(api_request("http://mimecast.invalid/api/ok"))
    assert [path for path, _ in server.received] == ["http://mimecast.invalid/api/ok"]


def test_sync_bypasses_the_proxy_for_no_proxy_hosts(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert SyncTransport(2.0).send(api_request(server.url("ok"))).status_code == 200


# --------------------------------------------------------------------------------------------- the hook
def test_a_host_without_a_scheme_fails_once_not_after_retries(simulator, monkeypatch, capfd):
    conn = json.loads(oauth_connection(simulator.url))
    conn["host"] = simulator.url.split("://", 1)[1]  # 127.0.0.1:port: taken as https
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", json.dumps(conn))
    started = time.monotonic()
    with pytest.raises(MimecastTransportError, match="TLS failed") as caught:
        MimecastHook(max_retries=3, retry_delay=0.5).get_import_status("any")
    assert time.monotonic() - started < 1.0
    assert caught.value.transient is False
    assert "retry 1 of 3" not in capfd.readouterr().out


#: Run in a fresh interpreter: what a triggerer imports with the trigger module, then one sync call.
_TRIGGERER_IMPORTS = """
import json, sys
import airflow.providers.common.compat.connection, airflow.providers.common.compat.sdk, airflow.triggers.base

def loaded():
    return sorted(m for m in ("requests", "urllib3") if m in sys.modules)

by_airflow = loaded()
import airflow_provider_mimecast.triggers.import_status
by_the_trigger = loaded()
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
[status] = MimecastHook().get_import_status(sys.argv[1])
print(json.dumps([by_airflow, by_the_trigger, loaded(), status.id]))
"""


@pytest.mark.skipif(
    version("apache-airflow").startswith("2."),
    reason="Airflow 2 imports requests itself: a 2.11 triggerer has it loaded before any trigger",
)
def test_the_trigger_module_imports_no_sync_http_client_until_a_sync_call(connections):
    # A triggerer imports the trigger inside its event loop, and makes async calls only: requests and
    # urllib3 (~50-130 ms to import, 0.5 s under load) would stall every other trigger for nothing.
    import_id = connections.create_import()
    done = subprocess.run(
        [sys.executable, "-c", _TRIGGERER_IMPORTS, import_id], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    by_airflow, by_the_trigger, after_a_sync_call, status_id = json.loads(done.stdout.splitlines()[-1])
    assert by_airflow == [], "Airflow's own imports load requests: this test no longer tells ours apart"
    assert by_the_trigger == []
    assert after_a_sync_call == ["requests", "urllib3"] and status_id == import_id
