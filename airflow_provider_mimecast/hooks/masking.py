"""Registering secrets with Airflow's secret masker from sync and async code.

In Airflow 3's task runner and triggerer, ``mask_secret`` also tells the supervising process, with a
synchronous message. Sent from the triggerer's event loop, that message blocks the loop (or, on some
lines, raises when another trigger's async message is in flight), so async code awaits
``amask_secret`` where Airflow has it (3.3.2 and later) and otherwise registers from a worker thread.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from airflow.providers.common.compat.sdk import mask_secret


def _find_amask_secret() -> Callable[[Any], Awaitable[None]] | None:
    """Airflow's ``amask_secret``, or None on Airflow 2 and the 3 lines before it (looked up by name, so
    that mypy passes on every line, whichever it checks against).
    """
    try:
        module = importlib.import_module("airflow.sdk.log")
    except ImportError:
        return None
    found: Callable[[Any], Awaitable[None]] | None = getattr(module, "amask_secret", None)
    return found


_sdk_amask_secret = _find_amask_secret()


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
