"""The connection of one shared status poller and the keep-alive client it polls with: read again now and
then, so that a rotated secret or a changed host takes effect in a long-lived triggerer, without blocking the
event loop; the client of settings that changed is closed once the round using it is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

from airflow_provider_mimecast.errors import MimecastConfigurationError, MimecastError
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.settings import MimecastSettings
from airflow_provider_mimecast.wait_outcome import Logger

#: How often, at most, a poller reads its connection again, so that a rotated secret or a changed host takes
#: effect in a long-lived triggerer. It is also read again before waits fail on refused credentials.
CONNECTION_REFRESH_SECONDS = 60.0
#: A wait that registers with a poller whose copy of the connection is older than this has it read again
#: (once, however many register together) before its first check: it sees the connection as it is now.
NEW_WAIT_CONNECTION_AGE_SECONDS = 5.0


class PollerConnection:
    """The ``mimecast`` connection one poller polls with, and its client.

    :param mimecast_conn_id: the ``mimecast`` connection.
    :param hook_params: keyword arguments for :class:`MimecastHook`.
    :param log: where a changed or unreadable connection is reported.
    """

    def __init__(self, mimecast_conn_id: str, hook_params: Mapping[str, Any], log: Logger) -> None:
        self.mimecast_conn_id = mimecast_conn_id
        self.hook_params = dict(hook_params)
        self.log = log
        #: The hook of the open client, None until the first round and once closed.
        self.hook: MimecastHook | None = None
        self._session_cm: contextlib.AbstractAsyncContextManager[MimecastHook] | None = None
        #: When the connection was last read (``time.monotonic()``).
        self.read_at = -math.inf
        #: A wait registered while the connection read was stale: read it before the next round.
        self.read_before_next_use = False
        self._reading = asyncio.Lock()
        self._read_for: object | None = None
        #: Clients of connection settings that changed, closed once the round using them is over.
        self._retired: list[contextlib.AbstractAsyncContextManager[MimecastHook]] = []

    def new_wait(self, now: float) -> None:
        """A wait registered: it sees the connection as it is now if the copy is older than a few seconds."""
        if now - self.read_at > NEW_WAIT_CONNECTION_AGE_SECONDS:
            self.read_before_next_use = True

    def new_hook(self) -> MimecastHook:
        # The poller retries itself, across rounds and until each wait's deadline: the hook's own retries
        # would hold a whole round (and every wait that joins meanwhile) for its retry budget.
        return MimecastHook(self.mimecast_conn_id, **{**self.hook_params, "max_retries": 0})

    async def current(self) -> MimecastHook:
        """The hook to poll with, the connection read again first when it is due."""
        stale = self.read_before_next_use
        self.read_before_next_use = False
        if self.hook is None:
            await self._open(self.new_hook())
        elif stale or time.monotonic() - self.read_at >= CONNECTION_REFRESH_SECONDS:
            await self.read()
        assert self.hook is not None
        return self.hook

    async def _open(self, hook: MimecastHook) -> None:
        session = hook.async_session()
        try:
            await session.__aenter__()
        except MimecastError:
            raise
        except Exception as error:  # a connection that does not exist, a secrets backend that fails
            raise MimecastConfigurationError(
                f"Cannot read the Mimecast connection {self.mimecast_conn_id!r}: {type(error).__name__}: "
                f"{str(error)[:300]}"
            ) from error
        self.read_at = time.monotonic()
        self.hook, self._session_cm = hook, session

    async def read_once(self, round_: object) -> None:
        """Read the connection again, once for the whole ``round_`` however many of its requests ask."""
        async with self._reading:  # concurrent batches of a round read it once between them
            if self._read_for is not round_:
                self._read_for = round_
                await self.read()

    async def read(self) -> None:
        """Read the connection again (without blocking the loop); poll with a new client if it changed."""
        self.read_at = time.monotonic()
        try:
            conn = await get_async_connection(self.mimecast_conn_id)
            fresh = MimecastSettings.from_connection_fields(
                host=conn.host,
                login=conn.login,
                password=conn.password,
                extra=await get_async_extra_dejson(conn),
            )
        except Exception as error:  # keep polling with what worked: a failed read is not a changed connection
            self.log.warning(
                "Could not read the Mimecast connection %r again (%s); keeping its current settings",
                self.mimecast_conn_id,
                error if isinstance(error, MimecastError) else type(error).__name__,
            )
            return
        current = self.hook
        if current is not None and fresh == await current.asettings():
            return
        old = self._session_cm
        try:
            await self._open(self.new_hook())
        except MimecastError as error:
            self.log.warning(
                "The Mimecast connection %r changed but cannot be used (%s); keeping its previous settings",
                self.mimecast_conn_id,
                error,
            )
            return
        self.log.info(
            "The Mimecast connection %r changed; polling with its new settings", self.mimecast_conn_id
        )
        if old is not None:
            # Requests of this round may still be in flight on the old client: it closes after the round.
            self._retired.append(old)

    async def close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for session in retired:
            await session.__aexit__(None, None, None)

    async def close(self) -> None:
        session, self.hook, self._session_cm = self._session_cm, None, None
        if session is not None:
            self._retired.append(session)
        await self.close_retired()
