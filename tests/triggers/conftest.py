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
    """Builds a trigger on ``mimecast_default``: ``trigger(ids, poll=0.2, deadline=30, **hook_params)``,
    the deadline in seconds from now and the hook parameters on top of :data:`FAST`.
    """

    def make(
        ids: list[str], *, poll: float = 0.2, deadline: float = 30, **hook: Any
    ) -> MimecastImportStatusTrigger:
        return MimecastImportStatusTrigger(
            import_ids=ids,
            mimecast_conn_id="mimecast_default",
            poll_interval=poll,
            end_time=time.time() + deadline,
            hook_params={**FAST, **hook},
        )

    return make
