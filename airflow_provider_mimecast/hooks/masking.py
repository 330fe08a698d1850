"""Registering secrets with Airflow's secret masker from sync and async code.

In Airflow 3's task runner and triggerer, ``mask_secret`` also tells the supervising process, with a
synchronous message. Sent from the triggerer's event loop, that message blocks the loop (or, on some
lines, raises when another trigger's async message is in flight), so async code awaits
``amask_secret`` where Airflow has it (3.3.2 and later) and otherwise registers from a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from airflow.providers.common.compat.sdk import mask_secret

_sdk_amask_secret: Callable[[Any], Awaitable[None]] | None
try:
    from airflow.sdk.log import amask_secret as _sdk_amask_secret
except ImportError:  # Airflow 2, and 3 lines before amask_secret
    _sdk_amask_secret = None


def mask_secrets(secrets: Iterable[str]) -> None:
    """Register each secret with the masker (sync code: workers, the api-server)."""
    for secret in secrets:
        mask_secret(secret)


async def amask_secrets(secrets: Iterable[str]) -> None:
    """Register each secret with the masker without blocking the event loop."""
    for secret in secrets:
        if _sdk_amask_secret is not None:
            await _sdk_amask_secret(secret)
        else:
            await asyncio.to_thread(mask_secret, secret)
