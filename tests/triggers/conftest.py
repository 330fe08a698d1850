"""Fixtures of the trigger tests: one way to build a trigger."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_mimecast.triggers.import_status import MimecastImportStatusTrigger

#: Hook settings of the triggers built here: retries that cost milliseconds, not seconds.
FAST = {"retry_delay": 0.01, "max_retries": 2}

MakeTrigger = Callable[..., MimecastImportStatusTrigger]


@pytest.fixture
def trigger() -> MakeTrigger:
    """Builds a trigger on ``mimecast_default``: ``trigger(ids, poll=0.2, deadline=30, hook={...}, **kwargs)``,
    the deadline in seconds from now, ``hook`` the hook parameters on top of :data:`FAST` and ``kwargs``
    the trigger's own further arguments (``end_from_trigger=True``, ...).
    """

    def make(
        ids: list[str],
        *,
        poll: float = 0.2,
        deadline: float = 30,
        hook: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> MimecastImportStatusTrigger:
        return MimecastImportStatusTrigger(
            import_ids=ids,
            mimecast_conn_id="mimecast_default",
            poll_interval=poll,
            end_time=time.time() + deadline,
            hook_params={**FAST, **(hook or {})},
            **kwargs,
        )

    return make
