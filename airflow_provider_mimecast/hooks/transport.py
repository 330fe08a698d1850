"""HTTP transports: send an :class:`ApiRequest`, return an :class:`ApiResponse` or raise
:class:`MimecastTransportError`. One client per transport, kept alive across calls.

Each send is bounded as a whole by ``timeout``: HTTP clients' own timeouts bound each socket read, so a
server that trickles its answer would otherwise hold a call for ever.
"""

from __future__ import annotations

import asyncio
import functools
import ssl

import httpx

from airflow_provider_mimecast.errors import MimecastTransportError
from airflow_provider_mimecast.hooks.exchange import ApiRequest, ApiResponse

_TLS_HINT = (
    "TLS failed, which a retry cannot mend: check that the host's scheme and port are right (plain "
    "http:// is accepted only on loopback, e.g. the local simulator), and, behind an inspecting proxy, "
    "point the connection's 'verify' extra at the proxy's CA bundle"
)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~17 ms: once per process, not per client.
    return httpx.create_ssl_context()


def _is_tls_error(error: BaseException) -> bool:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def transport_error(request: ApiRequest, error: Exception, *, timeout: float) -> MimecastTransportError:
    """Map a client's exception to :class:`MimecastTransportError`, saying whether the request left."""
    host = request.url.split("/")[2]
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        detail, sent, transient = f"no complete answer within {timeout:g} s", True, True
    elif _is_tls_error(error):
        detail, sent, transient = f"{type(error).__name__} ({_TLS_HINT})", False, False
    else:
        detail = type(error).__name__ + (f" ({error})" if str(error) else "")
        # Only a failure to connect proves the server never saw the request.
        sent, transient = not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout), True
    failure = MimecastTransportError(
        f"POST {request.path} to {host} got no answer: {detail}",
        request_sent=sent,
        request_id=request.request_id,
        transient=transient,
    )
    failure.path = request.path
    return failure


def _response(response: httpx.Response) -> ApiResponse:
    return ApiResponse(
        response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content
    )


def _request(request: ApiRequest) -> httpx.Request:
    return httpx.Request("POST", request.url, headers=dict(request.headers), content=request.body)


class SyncTransport:
    """Blocking sends over one pooled client.

    :param timeout: seconds for the whole request and answer.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._client = httpx.Client(timeout=timeout, verify=_ssl_context())

    def send(self, request: ApiRequest) -> ApiResponse:
        try:
            return _response(self._client.send(_request(request)))
        except (httpx.TransportError, ssl.SSLError, OSError) as error:
            raise transport_error(request, error, timeout=self.timeout) from None

    def close(self) -> None:
        self._client.close()


class AsyncTransport:
    """Non-blocking sends over one keep-alive client; never blocks the event loop.

    :param timeout: seconds for the whole request and answer.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._client = httpx.AsyncClient(timeout=timeout, verify=_ssl_context())

    async def send(self, request: ApiRequest) -> ApiResponse:
        try:
            return _response(await asyncio.wait_for(self._client.send(_request(request)), self.timeout))
        except (httpx.TransportError, ssl.SSLError, OSError, asyncio.TimeoutError) as error:
            raise transport_error(request, error, timeout=self.timeout) from None

    async def aclose(self) -> None:
        await self._client.aclose()
