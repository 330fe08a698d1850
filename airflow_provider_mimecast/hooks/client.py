"""MimecastClient: the call path of one connection's settings, sync and async side by side.

It owns what every call shares: the transports and their lifetime, the retry policy, and the bearer
tokens. What one attempt of a call does is written once, free of I/O, as the generator
:func:`~.calls.attempt` (it yields a token need, then the signed request, and returns the checked envelope);
:meth:`MimecastClient.call` and :meth:`MimecastClient.acall` retry it and answer its steps with blocking or
non-blocking I/O. The sync transport (requests, urllib3) is imported at the first sync call only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, Retrying

from airflow_provider_mimecast.envelope import TokenGrant
from airflow_provider_mimecast.hooks.calls import (
    ApiRequest,
    ApiResponse,
    Call,
    NeedToken,
    attempt,
    read_token_grant,
    token_request,
)
from airflow_provider_mimecast.hooks.rate_budgets import RATE_BUDGETS, budget_key, reserve_exhausted
from airflow_provider_mimecast.hooks.retry import retry_policy
from airflow_provider_mimecast.hooks.tokens import TOKEN_CACHE, token_key
from airflow_provider_mimecast.hooks.transport import AsyncTransport, load_tls_context
from airflow_provider_mimecast.settings import MimecastSettings

if TYPE_CHECKING:
    from airflow_provider_mimecast.hooks.sync_transport import SyncTransport


class MimecastClient:
    """Makes calls with one connection's settings: authenticated, retried and bounded in time.

    :param settings: the connection's validated settings.
    :param timeout: seconds for each HTTP request; None for the connection's ``timeout``.
    :param max_retries: retries after the first attempt; None for the connection's ``max_retries``.
    :param retry_delay: first backoff in seconds between retries of server errors.
    :param retry_rate_limits: False raises a 429 at once, whatever the call says.
    :param log: where retries are announced.
    """

    def __init__(
        self,
        settings: MimecastSettings,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_delay: float = 1.0,
        retry_rate_limits: bool = True,
        log: Any,
    ) -> None:
        self.settings = settings
        self.timeout = settings.timeout if timeout is None else timeout
        self.retries = settings.max_retries if max_retries is None else max_retries
        self.retry_delay = retry_delay
        self.retry_rate_limits = retry_rate_limits
        self.log = log
        self._token_key = token_key(settings)
        self._budget_key = budget_key(settings)
        self._transport: SyncTransport | None = None
        #: The client of the open :meth:`session`, if any, and how many sessions share it.
        self._session: AsyncTransport | None = None
        self._session_users = 0

    def _policy(self, call: Call) -> dict[str, Any]:
        return retry_policy(
            call,
            retries=self.retries,
            retry_delay=self.retry_delay,
            log=self.log,
            retry_rate_limits=call.retry_rate_limits and self.retry_rate_limits,
            max_rate_limit_wait=self.settings.max_rate_limit_wait,
        )

    def _reserve_wait(self, call: Call) -> float:
        """The longest a call may wait for the rate-limit reserve: as long as for a 429, none for a caller
        that waits elsewhere (a deferrable task's check before it defers)."""
        return self.settings.max_rate_limit_wait if call.retry_rate_limits and self.retry_rate_limits else 0.0

    def _reserve(self, call: Call) -> float:
        return self.settings.rate_limit_reserve if call.keep_rate_limit_reserve else 0.0

    # ----------------------------------------------------------------- sync
    def call(self, call: Call) -> dict[str, Any]:
        """Make ``call`` with retries; the checked envelope. Each attempt first waits, if it must, until
        sending it leaves the connection's ``rate_limit_reserve`` in the API user's bucket, then answers the
        steps of :func:`~.calls.attempt` with blocking I/O over the pooled client.

        :param call: as :func:`~.calls.api_call` builds it.
        """
        for retry in Retrying(**self._policy(call)):
            with retry:
                self._wait_for_budget(call)
                steps = attempt(self.settings, call)
                try:
                    step = next(steps)
                    while True:
                        if isinstance(step, NeedToken):
                            answer: Any = TOKEN_CACHE.get(
                                self._token_key, self._fetch_token, stale=step.stale
                            )
                        else:
                            answer = self._send(step)
                        step = steps.send(answer)
                except StopIteration as done:
                    envelope: dict[str, Any] = done.value
                    return envelope
                finally:
                    RATE_BUDGETS.release(self._budget_key)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _wait_for_budget(self, call: Call) -> None:
        give_up_at = time.monotonic() + self._reserve_wait(call)
        while delay := RATE_BUDGETS.acquire(self._budget_key, self._reserve(call)):
            if time.monotonic() + delay > give_up_at:
                raise reserve_exhausted(call.path, delay, self.settings)
            time.sleep(delay)

    def _fetch_token(self) -> TokenGrant:
        request = token_request(self.settings)
        return read_token_grant(self.settings, request, self._send(request))

    def _send(self, request: ApiRequest) -> ApiResponse:
        response = self._sync_transport().send(request)
        RATE_BUDGETS.observe(self._budget_key, response.status_code, response.headers)
        return response

    def _sync_transport(self) -> SyncTransport:
        # One pooled client for the client's life: a sensor's pokes reuse its connection.
        if self._transport is None:
            from airflow_provider_mimecast.hooks.sync_transport import SyncTransport

            settings = self.settings
            self._transport = SyncTransport(
                self.timeout, verify=settings.verify, tls_hint=settings.tls_hint()
            )
        return self._transport

    def close(self) -> None:
        """Close the pooled sync client (a new one opens on the next call)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # ----------------------------------------------------------------- async
    async def acall(self, call: Call) -> dict[str, Any]:
        """Async twin of :meth:`call`, over the open :meth:`session`'s client or one of its own; never
        blocks the event loop.

        :param call: as :func:`~.calls.api_call` builds it.
        """
        async with self._async_transport() as transport:
            async for retry in AsyncRetrying(**self._policy(call)):
                with retry:
                    await self._await_budget(call)
                    steps = attempt(self.settings, call)
                    try:
                        step = next(steps)
                        while True:
                            if isinstance(step, NeedToken):
                                fetch = functools.partial(self._afetch_token, transport)
                                answer: Any = await TOKEN_CACHE.aget(self._token_key, fetch, stale=step.stale)
                            else:
                                answer = await self._asend(transport, step)
                            step = steps.send(answer)
                    except StopIteration as done:
                        envelope: dict[str, Any] = done.value
                        return envelope
                    finally:
                        RATE_BUDGETS.release(self._budget_key)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _await_budget(self, call: Call) -> None:
        # asyncio.sleep: a wait for the reserve in the triggerer never blocks its event loop.
        give_up_at = time.monotonic() + self._reserve_wait(call)
        while delay := RATE_BUDGETS.acquire(self._budget_key, self._reserve(call)):
            if time.monotonic() + delay > give_up_at:
                raise reserve_exhausted(call.path, delay, self.settings)
            await asyncio.sleep(delay)

    async def _afetch_token(self, transport: AsyncTransport) -> TokenGrant:
        request = token_request(self.settings)
        return read_token_grant(self.settings, request, await self._asend(transport, request))

    async def _asend(self, transport: AsyncTransport, request: ApiRequest) -> ApiResponse:
        response = await transport.send(request)
        RATE_BUDGETS.observe(self._budget_key, response.status_code, response.headers)
        return response

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Keep one keep-alive async client open for every async call made inside the block. Sessions that
        overlap (nested, or concurrent tasks) share one client, closed when the last of them ends."""
        if self._session is None:
            await load_tls_context(self.settings.verify)  # read off the event loop, once per bundle
            # Checked again after the await, with none before the assignment: concurrent tasks of the loop
            # that opened a session meanwhile share its one client.
            if self._session is None:
                self._session = self._new_async_transport()
        session = self._session
        self._session_users += 1
        try:
            yield
        finally:
            self._session_users -= 1
            if self._session_users == 0 and self._session is session:
                self._session = None
                await session.aclose()

    @contextlib.asynccontextmanager
    async def _async_transport(self) -> AsyncIterator[AsyncTransport]:
        """The open session's client, or one of its own for this call, closed after it."""
        if self._session is not None:
            yield self._session
            return
        await load_tls_context(self.settings.verify)
        transport = self._new_async_transport()
        try:
            yield transport
        finally:
            await transport.aclose()

    def _new_async_transport(self) -> AsyncTransport:
        # After load_tls_context: building the client reads the CA bundle from its cache, not the disk.
        settings = self.settings
        return AsyncTransport(self.timeout, verify=settings.verify, tls_hint=settings.tls_hint())
