"""API 2.0 bearer tokens, shared by every hook of the process (sync and async alike).

One token per credential set, fetched once however many callers ask at the same time: a triggerer that
starts with a thousand waits fetches one token, not a thousand, and registers it with the secret masker
once (each registration recompiles the masker's pattern over every secret so far).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from airflow_provider_mimecast.envelope import TokenGrant
from airflow_provider_mimecast.errors import MimecastTransportError
from airflow_provider_mimecast.hooks.masking import amask_secrets, mask_secrets
from airflow_provider_mimecast.settings import MimecastSettings

#: Integrations refresh bearer tokens this long before they expire.
TOKEN_REFRESH_MARGIN = 60.0

#: (base URL, client ID, digest of the client secret): a wrong secret never reuses a right one's token.
TokenKey = tuple[str, str, str]


def token_key(settings: MimecastSettings) -> TokenKey:
    digest = hashlib.sha256(settings.secret.encode()).hexdigest()
    return settings.base_url, settings.login, digest


@dataclass(frozen=True)
class _CachedToken:
    access_token: str
    refresh_at: float  # time.monotonic() after which the token is renewed

    def __repr__(self) -> str:
        return f"_CachedToken(access_token='***', refresh_at={self.refresh_at})"


class TokenCache:
    """Bearer tokens keyed by :func:`token_key`, with one fetch in flight per key.

    Threads wait on a per-key lock; asyncio tasks of one event loop await the same in-flight fetch. The
    two kinds do not wait for each other (a thread must never block an event loop), so a sync and an
    async caller that miss at the same instant may fetch one token each.
    """

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, _CachedToken] = {}
        self._lock = threading.Lock()
        self._fetch_locks: dict[TokenKey, threading.Lock] = {}
        self._in_flight: dict[tuple[TokenKey, asyncio.AbstractEventLoop], asyncio.Future[str]] = {}

    def peek(self, key: TokenKey) -> str | None:
        """The cached token if it is still fresh, without fetching."""
        with self._lock:
            cached = self._tokens.get(key)
        return cached.access_token if cached and time.monotonic() < cached.refresh_at else None

    def get(self, key: TokenKey, fetch: Callable[[], TokenGrant], *, stale: str | None = None) -> str:
        """Return a fresh token, calling ``fetch`` at most once at a time for ``key``.

        :param stale: a token the server just called expired; it is dropped, unless another caller
            already replaced it.
        """
        self._drop(key, stale)
        token = self.peek(key)
        if token is not None:
            return token
        with self._lock:
            fetch_lock = self._fetch_locks.setdefault(key, threading.Lock())
        with fetch_lock:
            token = self.peek(key)  # fetched by the thread we waited for
            if token is None:
                grant = fetch()
                mask_secrets([grant.access_token])
                token = self._store(key, grant)
        return token

    async def aget(
        self, key: TokenKey, fetch: Callable[[], Awaitable[TokenGrant]], *, stale: str | None = None
    ) -> str:
        """Async twin of :meth:`get`: concurrent tasks share one in-flight fetch."""
        self._drop(key, stale)
        token = self.peek(key)
        if token is not None:
            return token
        slot = (key, asyncio.get_running_loop())
        in_flight = self._in_flight.get(slot)
        if in_flight is not None:
            # shield: one waiter being cancelled must not cancel the fetch the others wait for.
            return await asyncio.shield(in_flight)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._in_flight[slot] = future
        try:
            grant = await fetch()
            await amask_secrets([grant.access_token])
            token = self._store(key, grant)
        except Exception as error:
            future.set_exception(error)
            raise
        except BaseException:
            # The fetching task was cancelled; the tasks waiting on it were not, and may try again.
            future.set_exception(
                MimecastTransportError(
                    "The token request was cancelled before it finished", request_sent=False
                )
            )
            raise
        else:
            future.set_result(token)
            return token
        finally:
            del self._in_flight[slot]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved, so asyncio does not log it when nobody else waited

    def _store(self, key: TokenKey, grant: TokenGrant) -> str:
        # A token shorter-lived than twice the margin is refreshed halfway through its life instead.
        margin = min(TOKEN_REFRESH_MARGIN, grant.expires_in / 2)
        with self._lock:
            self._tokens[key] = _CachedToken(grant.access_token, time.monotonic() + grant.expires_in - margin)
        return grant.access_token

    def _drop(self, key: TokenKey, stale: str | None) -> None:
        if stale is None:
            return
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached.access_token == stale:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKEN_CACHE = TokenCache()
