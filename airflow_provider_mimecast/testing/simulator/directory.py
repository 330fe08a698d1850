"""The simulated directory: profile groups in folders, and find-groups with its pagination."""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .imports import secure_id
from .responses import Response, v1_error

#: find-groups' page size when the request names none, and the largest it accepts (the simulator's own
#: choices: Mimecast does not publish them).
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 500
SOURCES = ("cloud", "ldap")


@dataclass(frozen=True)
class SimulatorGroup:
    """One profile group (a folder of the directory)."""

    id: str
    name: str
    parent_id: str | None
    source: str
    user_count: int


class Directory:
    """The profile groups the simulator knows, safe to use from the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[str, SimulatorGroup] = {}
        #: A group's member count once it has members (``userCount``); None keeps the group's ``user_count``.
        self.count_members: Callable[[str], int | None] = lambda group_id: None

    def add(
        self, name: str, *, parent_id: str | None = None, source: str = "cloud", user_count: int = 0
    ) -> str:
        """Add a group and return its secure ID (see ``MimecastSimulator.add_group``)."""
        if not isinstance(name, str) or not name:
            raise ValueError("A group needs a non-empty name")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        with self._lock:
            if parent_id is not None and parent_id not in self._groups:
                raise ValueError(f"No group has the ID {parent_id!r}")
            group = SimulatorGroup(secure_id(), name, parent_id, source, user_count)
            self._groups[group.id] = group
        return group.id

    def add_demo_groups(self) -> None:
        """The groups a new simulator holds, so that the example DAGs find theirs by name: ``Directory
        Sync``, ``EMEA`` and ``Americas`` at the top, and a ``Sales`` in each of the last two (a lookup of
        ``Sales`` alone is ambiguous, as it can be in Mimecast; ``EMEA/Sales`` is not).
        """
        self.add("Directory Sync")
        for region in ("EMEA", "Americas"):
            self.add("Sales", parent_id=self.add(region))

    def groups(self) -> list[SimulatorGroup]:
        with self._lock:
            return list(self._groups.values())

    def find_groups(self, body: bytes) -> Response:
        """Answer ``POST /api/directory/find-groups``: a case-insensitive substring search on the names
        (Mimecast's ``query`` is free text), one page at a time.
        """
        try:
            document = json.loads(body)
            data = document.get("data", [])
            item = data[0] if data else {}
            meta = document.get("meta") or {}
            pagination = meta.get("pagination") or {}
            if not (isinstance(item, dict) and isinstance(pagination, dict)):
                raise TypeError
        except (ValueError, TypeError, AttributeError, IndexError):
            message = 'The body must be {"meta": {"pagination": {...}}, "data": [{"query": "..."}]}'
            return v1_error(400, "err_validation_null", message, field="data")
        query, source = item.get("query", ""), item.get("source")
        if not isinstance(query, str):
            return v1_error(400, "err_validation_invalid", "query must be a string", field="query")
        if source is not None and source not in SOURCES:
            return v1_error(400, "err_validation_invalid", "source must be cloud or ldap", field="source")
        size = pagination.get("pageSize", DEFAULT_PAGE_SIZE)
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_PAGE_SIZE:
            message = f"pageSize must be a whole number from 1 to {MAX_PAGE_SIZE}"
            return v1_error(400, "err_validation_invalid", message, field="pageSize")
        offset = _offset(pagination.get("pageToken"), query, source)
        if offset is None:
            return v1_error(
                400,
                "err_validation_invalid",
                "pageToken is not one this search handed out",
                field="pageToken",
            )
        with self._lock:
            groups = list(self._groups.values())
        wanted = query.strip().lower()
        matches = [g for g in groups if wanted in g.name.lower() and (source is None or g.source == source)]
        page = matches[offset : offset + size]
        answer: dict[str, Any] = {"pageSize": size, "totalCount": len(matches)}
        if offset + size < len(matches):
            answer["next"] = _token(offset + size, query, source)
        folders = [
            {
                "id": g.id,
                "description": g.name,
                "source": g.source,
                **({"parentId": g.parent_id} if g.parent_id else {}),
                "userCount": _first_known(self.count_members(g.id), g.user_count),
                "folderCount": sum(1 for other in groups if other.parent_id == g.id),
            }
            for g in page
        ]
        payload = {"meta": {"status": 200, "pagination": answer}, "data": [{"folders": folders}], "fail": []}
        return Response(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def _first_known(count: int | None, default: int) -> int:
    return default if count is None else count


def _token(offset: int, query: str, source: str | None) -> str:
    raw = json.dumps({"offset": offset, "query": query, "source": source}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _offset(token: Any, query: str, source: str | None) -> int | None:
    """Where a page token points, or None if it is not one handed out for this same search."""
    if token is None:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        if value["query"] == query and value["source"] == source and isinstance(value["offset"], int):
            return int(value["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    return None
