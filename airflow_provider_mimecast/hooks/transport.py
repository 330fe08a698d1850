"""HTTP transports: send an :class:`ApiRequest`, return an :class:`ApiResponse` or raise
:class:`MimecastTransportError`. One client per transport, kept alive across calls: httpx for the async
path here, ``requests`` for the sync one in :mod:`.sync_transport` (imported only when a sync call is made,
so that a triggerer importing the trigger does not import requests and urllib3 in its event loop).

Each send is bounded as a whole by ``timeout``: HTTP clients' own timeouts bound each socket read, so a
server that trickles its answer would otherwise hold a call for ever. Redirects are never followed: a 3xx
reaches the envelope check, which refuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import ssl
from dataclasses import dataclass

import httpx

from airflow_provider_mimecast.errors import MimecastConfigurationError, MimecastTransportError
from airflow_provider_mimecast.hooks.calls import ApiRequest, ApiResponse

#: How long an idle keep-alive connection of the async client is kept for the next poll.
KEEPALIVE_SECONDS = 120.0

TLS_HINT = (
    "check that the host's scheme and port are right (plain http:// is accepted only on loopback, e.g. the "
    "local simulator), and, behind an inspecting proxy, point the connection's 'verify' extra at the "
    "proxy's CA bundle"
)

#: The overall deadline trails the clients' per-read timeouts a little, so a server that falls silent is
#: reported by the client's own ReadTimeout, and the deadline cuts off only one that trickles.
GRACE_SECONDS = 0.1

Errors = tuple[type[BaseException], ...]


@dataclass(frozen=True)
class ClientErrors:
    """What one HTTP client raises, sorted by what it says about the request.

    :param not_connected: failures to connect: the server cannot have seen the request.
    :param connect_timeouts: among those, the ones that timed out (rather than were refused).
    :param unsendable: the request could not even be written (a bad URL, or a header value the client
        refuses). Only the type is reported: a refused header value may be a credential.
    :param timeouts: the client's per-operation timeouts.
    """

    not_connected: Errors
    connect_timeouts: Errors
    unsendable: Errors
    timeouts: Errors


HTTPX_ERRORS = ClientErrors(
    not_connected=(httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout),
    connect_timeouts=(TimeoutError, httpx.TimeoutException),
    unsendable=(httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError),
    timeouts=(TimeoutError, httpx.TimeoutException),
)
#: What httpx raises for a failed exchange; anything else is a bug and is left to surface.
_ASYNC_ERRORS = (httpx.HTTPError, httpx.InvalidURL, OSError, asyncio.TimeoutError)


@functools.cache
def _ssl_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    # Loading a CA bundle costs ~17 ms: once per process and bundle, not per client.
    if ca_bundle is None:
        return httpx.create_ssl_context()
    if os.path.isdir(ca_bundle):
        return ssl.create_default_context(capath=ca_bundle)
    return ssl.create_default_context(cafile=ca_bundle)


def _tls_context(verify: bool | str) -> ssl.SSLContext | bool:
    """What httpx gets as ``verify``: the cached context of the bundle (httpx's own for True), or False.

    The one way to ask :func:`_ssl_context`, so that the call in a worker thread and the client's share a
    cache entry (``_ssl_context()`` and ``_ssl_context(None)`` are two different keys).
    """
    if verify is False:
        return False
    return _ssl_context(verify if isinstance(verify, str) else None)


async def load_tls_context(verify: bool | str) -> None:
    """Load and cache the CA bundle in a worker thread before an :class:`AsyncTransport` is built:
    reading it in the event loop would stall every other trigger of the triggerer for ~20-40 ms (0.3-0.6 s
    seen in a real triggerer on a busy 2-core machine).
    """
    with contextlib.suppress(OSError, ValueError):  # AsyncTransport reports an unreadable bundle itself
        await asyncio.to_thread(_tls_context, verify)


def checked_verify(verify: bool | str, origin: str = "The 'verify' setting") -> bool | str:
    if isinstance(verify, bool):
        return verify
    try:
        _ssl_context(verify)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise MimecastConfigurationError(
            f"{origin} {verify!r} is not a readable CA bundle file or directory "
            f"({type(error).__name__}: {error}); give a PEM file's path, true, or false"
        ) from None
    return verify


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what caused it, outermost first: wrapped reasons, causes and arguments."""
    chain = [error]
    while len(chain) < 16:
        last = chain[-1]
        nested = (getattr(last, "reason", None), last.__cause__, *last.args, last.__context__)
        inner = next((e for e in nested if isinstance(e, BaseException) and e not in chain), None)
        if inner is None:
            break
        chain.append(inner)
    return chain


def transport_error(
    request: ApiRequest,
    error: BaseException,
    *,
    client: ClientErrors,
    timeout: float,
    expired: bool = False,
    proven_unsent: bool = False,
    tls_hint: str = TLS_HINT,
) -> MimecastTransportError:
    """Map a client's exception to :class:`MimecastTransportError`, saying whether the request may have
    left (uploads are re-sent only when it cannot have) and whether a retry can help.

    :param client: what the client that raised ``error`` raises, by kind.
    :param expired: the overall deadline passed (the client's error is then its consequence).
    :param proven_unsent: the transport saw that no byte of the request was written.
    :param tls_hint: what to check when TLS fails, for this connection.
    """
    host = request.url.split("/")[2]
    chain = _chain(error)
    root = chain[-1]
    timeouts = [e for e in chain if isinstance(e, client.timeouts)]
    tls = any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in chain)
    sent, transient = not proven_unsent, True
    if any(isinstance(e, client.unsendable) for e in chain):
        detail, sent, transient = (
            f"{type(error).__name__} (the client refused to send it: check the connection's host)",
            False,
            False,
        )
    elif any(isinstance(e, client.not_connected) for e in chain):
        sent = False
        if tls:
            detail, transient = (
                f"{type(root).__name__} (TLS failed, which a retry cannot mend: {tls_hint})",
                False,
            )
        else:
            # Not client.timeouts: urllib3 files a refused connection under ConnectTimeoutError.
            timed_out = any(isinstance(e, client.connect_timeouts) for e in chain)
            label = "ConnectTimeout" if timed_out else "ConnectError"
            detail = label + (f" ({root})" if str(root) else "")
    elif tls and not expired:
        detail, transient = (
            f"{type(root).__name__} (TLS failed, which a retry cannot mend: {tls_hint})",
            False,
        )
    elif expired or timeouts:
        detail = f"no complete answer within {timeout:g} s"
        if not expired:  # the client's own per-read timeout: the server went silent
            detail = f"{type(timeouts[0]).__name__} ({detail})"
    else:
        detail = type(root).__name__ + (f" ({root})" if str(root) else "")
    return MimecastTransportError(
        f"POST {request.path} to {host} got no answer: {detail}",
        request_sent=sent,
        request_id=request.request_id,
        transient=transient,
        path=request.path,
    )


class AsyncTransport:
    """Non-blocking sends over one keep-alive httpx client; never blocks the event loop.

    :param timeout: seconds for the whole request and answer.
    :param verify: TLS verification: True (httpx's default CA bundle, or ``SSL_CERT_FILE``), False
        (none), or the path of a CA bundle.
    :param tls_hint: what a TLS failure's message tells the user to check.
    """

    def __init__(self, timeout: float, *, verify: bool | str = True, tls_hint: str = TLS_HINT) -> None:
        self.timeout = timeout
        self.tls_hint = tls_hint
        context = _tls_context(checked_verify(verify))
        # httpx drops an idle connection after 5 s by default, so a poller polling every minute would
        # open a new TCP and TLS connection each round; a server that closed it first is detected on reuse.
        self._client = httpx.AsyncClient(
            timeout=timeout, verify=context, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS)
        )

    async def send(self, request: ApiRequest) -> ApiResponse:
        try:
            # Built by the client, so its default headers (User-Agent) go out as on the sync path: some
            # gateways refuse a request without one.
            outgoing = self._client.build_request(
                "POST", request.url, headers=dict(request.headers), content=request.body
            )
            # Cancelling a send mid-answer closes its connection: none goes back to the pool half-read.
            response = await asyncio.wait_for(self._client.send(outgoing), self.timeout + GRACE_SECONDS)
        except asyncio.TimeoutError as error:
            raise transport_error(
                request,
                error,
                client=HTTPX_ERRORS,
                timeout=self.timeout,
                expired=True,
                tls_hint=self.tls_hint,
            ) from None
        except _ASYNC_ERRORS as error:
            raise transport_error(
                request, error, client=HTTPX_ERRORS, timeout=self.timeout, tls_hint=self.tls_hint
            ) from None
        return ApiResponse(
            response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content
        )

    async def aclose(self) -> None:
        await self._client.aclose()
