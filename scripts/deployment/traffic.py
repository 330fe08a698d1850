"""What the simulator received, sorted by who sent it: the workers (requests, the sync path) or the
triggerers (httpx, the async path), and sliced by the phases of the scenario."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from airflow_provider_mimecast.testing.simulator import (
    GET_IMPORT_STATUS_PATH,
    IMPORT_USERS_PATH,
    TOKEN_PATH,
    RecordedRequest,
)

WORKER = "worker"
TRIGGERER = "triggerer"


def sender(request: RecordedRequest) -> str:
    """``worker`` for the sync path (requests names itself ``python-requests/...``), else ``triggerer``:
    the async path is httpx, which sends ``python-httpx/...`` or, for requests it builds by hand, nothing."""
    agent = request.headers.get("user-agent", "")
    return WORKER if agent.startswith("python-requests/") else TRIGGERER


def status_ids(request: RecordedRequest) -> list[str]:
    """The import IDs a get-import-status request asked about (none if its body was not the usual one)."""
    try:
        return [str(item["id"]) for item in json.loads(request.body)["data"]]
    except (ValueError, KeyError, TypeError):
        return []


def token_secret(request: RecordedRequest) -> str | None:
    """The client secret a token request sent."""
    form = parse_qs(request.body.decode("utf-8", "replace"))
    return form.get("client_secret", [None])[-1]


@dataclass(frozen=True)
class Traffic:
    """A slice of the requests the simulator recorded, oldest first."""

    requests: Sequence[RecordedRequest]

    def by(
        self, who: str | None = None, path: str | None = None, status: int | None = None
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (who is None or sender(r) == who)
            and (path is None or r.path == path)
            and (status is None or r.response_status == status)
        ]

    def tokens(self, who: str, status: int | None = None) -> list[RecordedRequest]:
        return self.by(who, TOKEN_PATH, status)

    def status_requests(self, who: str | None = None, status: int | None = None) -> list[RecordedRequest]:
        return self.by(who, GET_IMPORT_STATUS_PATH, status)

    def uploads(self, status: int | None = None) -> list[RecordedRequest]:
        return self.by(None, IMPORT_USERS_PATH, status)

    def answered_ids(self, who: str = TRIGGERER) -> set[str]:
        """IDs that got an answer (HTTP 200) to a status request from ``who``."""
        return {i for r in self.status_requests(who, 200) for i in status_ids(r)}

    def polls_per_id(self, ids: Iterable[str], who: str = TRIGGERER) -> dict[str, int]:
        counts = dict.fromkeys(ids, 0)
        for request in self.status_requests(who):
            for import_id in status_ids(request):
                if import_id in counts:
                    counts[import_id] += 1
        return counts
