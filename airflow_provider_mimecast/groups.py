"""Directory groups from find-groups answers, and finding one by exact name or folder path. Pure, no I/O.

``find-groups`` takes a free-text ``query``, so an answer may hold groups whose names only contain it (or
resemble it): the exact match is made here, on the group's name (``description``) as Mimecast spells it.
A folder path ``EMEA/Sales`` names a group ``Sales`` whose parent folder is ``EMEA``; it may start at any
folder, so ``Root/EMEA/Sales`` and ``EMEA/Sales`` both name it when ``EMEA`` sits in ``Root``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_mimecast.endpoints import FIND_GROUPS
from airflow_provider_mimecast.envelope import envelope_data
from airflow_provider_mimecast.errors import MimecastGroupLookupError, MimecastInvalidResponseError

#: Candidates named in a lookup error; the message gives the count of the rest.
SHOWN_CANDIDATES = 10


@dataclass(frozen=True)
class DirectoryGroup:
    """One profile group (folder) of the Mimecast directory, as find-groups reports it.

    :param id: the secure ID that import-users takes as ``groupId``.
    :param name: the group's name (Mimecast's ``description``).
    :param source: ``cloud`` or ``ldap``.
    :param parent_id: the secure ID of the folder that holds it, if any.
    :param user_count: users in the group.
    :param folder_count: folders directly in the group.
    """

    id: str
    name: str
    source: str | None = None
    parent_id: str | None = None
    user_count: int | None = None
    folder_count: int | None = None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> DirectoryGroup:
        """Build from one ``folders`` item of a find-groups answer."""
        group_id, name = item.get("id"), item.get("description")
        if not isinstance(group_id, str) or not group_id or not isinstance(name, str):
            raise MimecastInvalidResponseError(
                f"A find-groups folder has no string 'id' and 'description' (keys: {sorted(item)})"
            )
        parent = item.get("parentId")
        return cls(
            id=group_id,
            name=name,
            source=item.get("source") if isinstance(item.get("source"), str) else None,
            parent_id=parent if isinstance(parent, str) and parent else None,
            user_count=_count(item.get("userCount")),
            folder_count=_count(item.get("folderCount")),
        )

    def describe(self) -> str:
        parent = f", in folder {self.parent_id}" if self.parent_id else ""
        return f"{self.name!r} (id {self.id}{parent})"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_page(
    document: Mapping[str, Any], *, path: str, items: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The items of one page of a paginated directory call (``data[0].<items>``) and the token of the next
    page, ``meta.pagination.next`` (None on the last).

    :param document: the checked envelope.
    :param path: the call's path, for messages.
    :param items: the key of the list in ``data[0]``, e.g. ``folders``.
    """
    call = path.rsplit("/", 1)[-1]
    data = envelope_data(document, path=path)
    found = data[0].get(items, []) if data else []
    if not isinstance(found, list) or not all(isinstance(f, dict) for f in found):
        raise MimecastInvalidResponseError(f"{call}: data[0].{items} is not a list of objects")
    meta = document.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    next_token = pagination.get("next") if isinstance(pagination, dict) else None
    if next_token is not None and not isinstance(next_token, str):
        raise MimecastInvalidResponseError(
            f"{call}: meta.pagination.next is {type(next_token).__name__}, not a page token"
        )
    return found, next_token or None


def read_groups_page(document: Mapping[str, Any]) -> tuple[list[DirectoryGroup], str | None]:
    """The groups of one find-groups page and the token of the next page (None on the last).

    :param document: the checked envelope.
    """
    folders, next_token = read_page(document, path=FIND_GROUPS.path, items="folders")
    return [DirectoryGroup.from_api(f) for f in folders], next_token


def path_segments(name: str) -> list[str] | None:
    """The folders of a path ``A/B/C``, or None when ``name`` is not one (no ``/``, or an empty part)."""
    parts = name.split("/")
    return parts if len(parts) > 1 and all(parts) else None


def match_group(name: str, found: Mapping[str, Sequence[DirectoryGroup]]) -> DirectoryGroup:
    """The one group named ``name`` exactly, or at the folder path ``name``.

    :param name: a group's name, or a folder path such as ``EMEA/Sales``.
    :param found: the groups find-groups returned for each query made: ``name`` itself and, for a path,
        each of its parts.
    :raises MimecastGroupLookupError: no group, or several, match; the message lists the candidates.
    """
    matches = {g.id: g for g in found.get(name, ()) if g.name == name}
    segments = path_segments(name)
    if segments is not None:
        known = {g.id: g for groups in found.values() for g in groups}
        for leaf in found.get(segments[-1], ()):
            if leaf.name == segments[-1] and _under(leaf, segments[:-1], known):
                matches[leaf.id] = leaf
    if len(matches) == 1:
        return next(iter(matches.values()))
    if matches:
        raise MimecastGroupLookupError(
            f"{len(matches)} Mimecast groups match {name!r}: {_listed(matches.values())}. Give its folder path "
            "(e.g. 'Parent/Name') or pass its secure ID as group_id"
        )
    searched = {
        g.id: g
        for query in ([name] if segments is None else [name, segments[-1]])
        for g in found.get(query, ())
    }
    seen = (
        f"the search found {_listed(searched.values())}" if searched else "the search found no group at all"
    )
    raise MimecastGroupLookupError(
        f"No Mimecast group is named exactly {name!r} (names are case-sensitive; a folder path is "
        f"'Parent/Name'): {seen}"
    )


def _under(group: DirectoryGroup, folders: Sequence[str], known: Mapping[str, DirectoryGroup]) -> bool:
    """Whether ``group`` sits in the folders ``folders`` (outermost first), as far as they go."""
    current = group
    for folder in reversed(folders):
        parent = known.get(current.parent_id) if current.parent_id else None
        if parent is None or parent.name != folder:
            return False
        current = parent
    return True


def _listed(groups: Iterable[DirectoryGroup]) -> str:
    groups = list(groups)
    shown = ", ".join(g.describe() for g in groups[:SHOWN_CANDIDATES])
    more = len(groups) - SHOWN_CANDIDATES
    return shown + (f" and {more} more" if more > 0 else "")
