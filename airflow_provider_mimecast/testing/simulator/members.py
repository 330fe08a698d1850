"""The members of the simulated profile groups: get-group-members with its pagination, add-group-member,
remove-group-member, and what a completed import does to its group.

Mimecast documents the requests and the answers' fields; where it documents no answer (removing an address
that is not a member, a group ID that does not exist) the simulator's choice is a ``fail`` entry with a code
of its own, named below, so that a client that ignores it shows up in tests.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .responses import Response, envelope, v1_error

#: get-group-members' page size when the request names none (Mimecast's example shows 25) and the largest
#: it accepts (the simulator's choice: Mimecast does not publish one).
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 500
MEMBER_TYPE = "created_manually"
#: The simulator's own codes, where Mimecast documents none.
NOT_A_MEMBER = "err_folder_group_member_not_found"
NO_SUCH_GROUP = "err_folder_not_found"
#: Documented: adding an existing member.
ALREADY_A_MEMBER = "err_folder_group_member_already_exists"


@dataclass(slots=True)
class Member:
    """One member of a group, as get-group-members reports it: an address, or a whole domain (``email``
    without ``@``; add-group-member takes a ``domain`` too, and such an entry has no ``emailAddress``: the
    simulator's reading, since Mimecast's example shows only addresses).
    """

    email: str
    name: str | None = None
    internal: bool = True
    type: str = MEMBER_TYPE

    def to_json(self) -> dict[str, Any]:
        if "@" not in self.email:
            return {"domain": self.email, "internal": self.internal, "type": self.type}
        item: dict[str, Any] = {
            "emailAddress": self.email,
            "domain": self.email.rpartition("@")[2],
            "internal": self.internal,
            "type": self.type,
        }
        if self.name is not None:
            item["name"] = self.name
        return item


@dataclass(slots=True)
class _TrackedImport:
    """An uploaded import whose users reach its group when it completes."""

    import_id: str
    group_id: str
    users: list[tuple[str, str | None]]
    clear_group: bool
    cleared: bool = False


class GroupMembers:
    """Every group's members, keyed by address in lower case, and the imports that will change them.

    :param state: the current status of an import (``pending``, ``processing``, ``completed``).
    :param known_group: whether a group ID exists; members of one that does not are a ``fail`` entry.
    """

    def __init__(self, state: Callable[[str], str], known_group: Callable[[str], bool]) -> None:
        self._state = state
        self._known_group = known_group
        self._lock = threading.Lock()
        self._groups: dict[str, dict[str, Member]] = {}
        self._imports: list[_TrackedImport] = []

    # -- Python controls ---------------------------------------------------------------------------

    def seed(self, group_id: str, members: Iterable[Any]) -> int:
        """Add members (addresses, ``(address, name)`` pairs or get-group-members dicts); returns the count
        added. An address already in the group keeps its place and takes the new name.
        """
        added = 0
        with self._lock:
            self._settle()
            group = self._groups.setdefault(group_id, {})
            for member in members:
                if isinstance(member, str):
                    email, name, internal = member, None, True
                elif isinstance(member, dict):
                    email, name = member.get("emailAddress") or member["domain"], member.get("name")
                    internal = member.get("internal", True) is not False
                else:
                    email, name = member
                    internal = True
                if not isinstance(email, str) or ("@" not in email and "." not in email):
                    raise ValueError(f"A member needs an email address (or a domain), not {email!r}")
                key = email.lower()
                added += key not in group
                group[key] = Member(email, name, internal)
        return added

    def members(self, group_id: str) -> list[dict[str, Any]]:
        """The group's members as get-group-members reports them, oldest first."""
        with self._lock:
            self._settle()
            return [m.to_json() for m in self._groups.get(group_id, {}).values()]

    def count(self, group_id: str) -> int | None:
        """How many members the group has, or None when the simulator never held its members."""
        with self._lock:
            self._settle()
            group = self._groups.get(group_id)
            return None if group is None else len(group)

    def track_import(
        self, import_id: str, group_id: str, users: list[tuple[str, str | None]], *, clear_group: bool
    ) -> None:
        """Have the accepted ``users`` join ``group_id`` when the import completes; with ``clear_group`` the
        group is emptied when its processing starts.
        """
        with self._lock:
            self._groups.setdefault(group_id, {})
            self._imports.append(_TrackedImport(import_id, group_id, users, clear_group))

    def _settle(self) -> None:
        """Apply what the imports did by now, oldest first. Called with the lock held."""
        waiting = []
        for tracked in self._imports:
            state = self._state(tracked.import_id)
            group = self._groups.setdefault(tracked.group_id, {})
            if state != "pending" and tracked.clear_group and not tracked.cleared:
                group.clear()
                tracked.cleared = True
            if state != "completed":
                waiting.append(tracked)
                continue
            for email, name in tracked.users:
                existing = group.get(email.lower())
                if existing is None:
                    group[email.lower()] = Member(email, name)
                else:
                    existing.name = name
        self._imports = waiting

    # -- the API -----------------------------------------------------------------------------------

    def get_group_members(self, body: bytes) -> Response:
        """Answer ``POST /api/directory/get-group-members``: one page of the group's members."""
        parsed = _request(body)
        if isinstance(parsed, Response):
            return parsed
        items, pagination = parsed
        group_id = items[0].get("id") if items else None
        if not isinstance(group_id, str) or not group_id:
            return v1_error(400, "err_validation_blank", "id (the group's ID) must not be blank", field="id")
        size = pagination.get("pageSize", DEFAULT_PAGE_SIZE)
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_PAGE_SIZE:
            message = f"pageSize must be a whole number from 1 to {MAX_PAGE_SIZE}"
            return v1_error(400, "err_validation_invalid", message, field="pageSize")
        offset = _offset(pagination.get("pageToken"), group_id)
        if offset is None:
            message = "pageToken is not one handed out for this group"
            return v1_error(400, "err_validation_invalid", message, field="pageToken")
        with self._lock:
            self._settle()
            group = self._groups.get(group_id)
            if group is None and not self._known_group(group_id):
                return _item_failure({"id": group_id}, NO_SUCH_GROUP, f"Group {group_id} not found")
            members = list((group or {}).values())
        page = [m.to_json() for m in members[offset : offset + size]]
        answer: dict[str, Any] = {"pageSize": size, "totalCount": len(members)}
        if offset + size < len(members):
            answer["next"] = _token(offset + size, group_id)
        if offset > 0:
            answer["previous"] = _token(max(0, offset - size), group_id)
        payload = {
            "meta": {"status": 200, "pagination": answer},
            "data": [{"groupMembers": page}],
            "fail": [],
        }
        return Response(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def add_group_member(self, body: bytes) -> Response:
        """Answer ``POST /api/directory/add-group-member`` (an address per item)."""
        return self._change(body, add=True)

    def remove_group_member(self, body: bytes) -> Response:
        """Answer ``POST /api/directory/remove-group-member`` (an address per item)."""
        return self._change(body, add=False)

    def _change(self, body: bytes, *, add: bool) -> Response:
        parsed = _request(body)
        if isinstance(parsed, Response):
            return parsed
        items, _ = parsed
        if not items:
            message = 'The body must be {"data": [{"id": "<group id>", "emailAddress": "..."}]}'
            return v1_error(400, "err_validation_null", message, field="data")
        data, fail = [], []
        with self._lock:
            self._settle()
            for item in items:
                group_id, email = item.get("id"), item.get("emailAddress", item.get("domain"))
                if not isinstance(group_id, str) or not group_id:
                    return v1_error(400, "err_validation_blank", "id must not be blank", field="id")
                field = "emailAddress" if "emailAddress" in item else "domain"
                if (
                    not isinstance(email, str)
                    or ("@" in email) != (field == "emailAddress")
                    or "." not in email
                ):
                    message = "emailAddress must be an email address, or domain a domain"
                    return v1_error(400, "err_validation_invalid", message, field=field)
                group = self._groups.get(group_id)
                if group is None and not self._known_group(group_id):
                    fail.append(_failure(item, NO_SUCH_GROUP, f"Group {group_id} not found"))
                    continue
                group = self._groups.setdefault(group_id, {})
                key = email.lower()
                if add and key in group:
                    fail.append(_failure(item, ALREADY_A_MEMBER, f"{email} is already a member"))
                elif not add and key not in group:
                    fail.append(_failure(item, NOT_A_MEMBER, f"{email} is not a member of {group_id}"))
                elif add:
                    group[key] = Member(email)
                    data.append({"id": group_id, "folderId": group_id, field: email, "internal": True})
                else:
                    del group[key]
                    data.append({"id": group_id, field: email})
        return envelope(200, data=data, fail=fail)


def _request(body: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]] | Response:
    try:
        document = json.loads(body)
        items = document.get("data", [])
        pagination = (document.get("meta") or {}).get("pagination") or {}
        if not (
            isinstance(items, list)
            and all(isinstance(i, dict) for i in items)
            and isinstance(pagination, dict)
        ):
            raise TypeError
    except (ValueError, TypeError, AttributeError):
        message = 'The body must be {"meta": {"pagination": {...}}, "data": [{"id": "<group id>"}]}'
        return v1_error(400, "err_validation_null", message, field="data")
    return items, pagination


def _failure(key: Any, code: str, message: str) -> dict[str, Any]:
    return {"key": key, "errors": [{"code": code, "message": message, "retryable": False}]}


def _item_failure(key: Any, code: str, message: str) -> Response:
    return envelope(200, fail=[_failure(key, code, message)])


def _token(offset: int, group_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset, "id": group_id}).encode()).decode()


def _offset(token: Any, group_id: str) -> int | None:
    """Where a page token points, or None if it is not one handed out for this group."""
    if token is None:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        if value["id"] == group_id and isinstance(value["offset"], int) and value["offset"] >= 0:
            return int(value["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    return None
