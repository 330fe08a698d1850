"""One process of the "several processes share one bucket" test: its own triggers and poller, on
``mimecast_default`` from the environment. Reads import IDs from argv, prints one JSON line of what it saw.

Run as ``python tests/triggers/poller_process.py POLL_SECONDS DEADLINE_SECONDS ID...``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def main(poll: float, deadline: float, ids: list[str]) -> dict[str, object]:
    from airflow_provider_mimecast.hooks.rate_budgets import RATE_BUDGETS
    from airflow_provider_mimecast.triggers.import_status import MimecastImportStatusTrigger

    async def one(import_id: str) -> str:
        trigger = MimecastImportStatusTrigger(
            import_ids=[import_id],
            mimecast_conn_id="mimecast_default",
            poll_interval=poll,
            end_time=time.time() + deadline,
            hook_params={"retry_delay": 0.01},
        )
        events = trigger.run()
        try:
            return str((await anext(events)).payload["status"])
        finally:
            await events.aclose()

    statuses = await asyncio.gather(*(one(i) for i in ids))
    [budget] = RATE_BUDGETS._budgets.values()
    return {"statuses": sorted(set(statuses)), "lowest_remaining": budget.lowest_remaining}


if __name__ == "__main__":
    poll, deadline, *import_ids = sys.argv[1:]
    print(json.dumps(asyncio.run(main(float(poll), float(deadline), import_ids))))
