"""What an import will change in its group, and which of its users did not land: pure, no I/O.

An :class:`ImportPlan` compares the users of a checked import file with the group's members: ``add`` (in
the file, not in the group), ``remove`` (in the group, not in the file; computed only when the import
removes members), ``rename`` (the same address with another ``name``) and ``unchanged``. Addresses compare
case-insensitively, as Mimecast's do. Columns other than ``email`` and ``name`` (``password``, ``mobile``)
are not compared: the group's members do not carry them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.group_members import GroupMember
from airflow_provider_mimecast.import_file import (
    Record,
    address_problem,
    csv_records,
    locate_header,
)
from airflow_provider_mimecast.uploads import Upload
from airflow_provider_mimecast.xlsx import first_sheet_rows

#: Addresses per list in :meth:`ImportPlan.as_dict` (XCom) and in :func:`not_in_group_report`.
SHOWN_IN_PLAN = 100
SHOWN_NOT_IN_GROUP = 1000

#: The file's users: address in lower case -> (address as the file spells it, name).
FileUsers = Mapping[str, tuple[str, str]]


def address_key(address: str) -> str:
    """How two addresses compare: case-insensitively, surrounding spaces ignored."""
    return address.strip().casefold()


def file_users(upload: Upload) -> dict[str, tuple[str, str]]:
    """The users of a checked upload, by :func:`address_key`; a later row with the same address wins.

    :param upload: a file :func:`~airflow_provider_mimecast.uploads.load_upload` checked.
    :raises MimecastConfigurationError: an xls file, whose rows cannot be read.
    """
    if upload.file_type == "xls":
        raise MimecastConfigurationError(
            f"source {upload.name!r} is an xls file, whose rows the provider cannot read, so what the import "
            "changes in its group cannot be planned: save it as xlsx or CSV"
        )
    records: Iterator[Record]
    if upload.file_type == "csv":
        records = csv_records(upload.content, upload.name)
    else:
        records = (Record(row=n, line=n, cells=cells) for n, cells in first_sheet_rows(upload.content))
    _, column = locate_header(records, upload.name, upload.unit)
    users: dict[str, tuple[str, str]] = {}
    for record in records:
        address = record.cell(column)
        if address_problem(address) is None:
            users[address_key(address)] = (address, record.cell(column + 1).strip())
    return users


@dataclass(frozen=True, slots=True)
class Rename:
    """A member whose name the import changes."""

    address: str
    old: str | None
    new: str


@dataclass(frozen=True)
class ImportPlan:
    """What importing a file into a group changes.

    :param group_id: the group's secure ID.
    :param group_members: the group's members when it was read.
    :param file_users: the distinct addresses of the file's users.
    :param add: the file's users not in the group (as the file spells them).
    :param rename: members the file gives another name.
    :param unchanged: how many of the file's users are members under the same name.
    :param unchanged_sample: the first of those, up to :data:`SHOWN_IN_PLAN`.
    :param remove: members not in the file (as the group spells them), or None when not computed (an
        import that removes no member).
    """

    group_id: str
    group_members: int
    file_users: int
    add: tuple[str, ...]
    rename: tuple[Rename, ...]
    unchanged: int
    unchanged_sample: tuple[str, ...] = ()
    remove: tuple[str, ...] | None = None

    @property
    def changes(self) -> bool:
        """Whether the import adds, removes or renames anyone."""
        return bool(self.add or self.rename or self.remove)

    @property
    def removals(self) -> int:
        return len(self.remove or ())

    def as_dict(self) -> dict[str, Any]:
        """XCom-safe: the four counts, the group's ID and member count, and up to 100 addresses per list."""
        return {
            "group_id": self.group_id,
            "group_members": self.group_members,
            "file_users": self.file_users,
            "add": len(self.add),
            "remove": None if self.remove is None else len(self.remove),
            "rename": len(self.rename),
            "unchanged": self.unchanged,
            "addresses": {
                "add": list(self.add[:SHOWN_IN_PLAN]),
                "remove": None if self.remove is None else list(self.remove[:SHOWN_IN_PLAN]),
                "rename": [r.address for r in self.rename[:SHOWN_IN_PLAN]],
                "unchanged": list(self.unchanged_sample),
            },
        }

    def summary(self) -> str:
        """One line for the log: the counts and the first few addresses of each change."""
        removed = "not computed" if self.remove is None else f"{len(self.remove)}{_first(self.remove)}"
        renamed = [f"{r.address} ({r.old!r} -> {r.new!r})" for r in self.rename]
        return (
            f"group {self.group_id} ({self.group_members} members), file of {self.file_users} users: "
            f"add {len(self.add)}{_first(self.add)}, remove {removed}, rename {len(renamed)}{_first(renamed)}, "
            f"unchanged {self.unchanged}"
        )


def _first(items: tuple[str, ...] | list[str], shown: int = 5) -> str:
    if not items:
        return ""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return f" ({', '.join(items[:shown])}{more})"


def plan_import(
    group_id: str, users: FileUsers, members: Iterable[GroupMember], *, remove_missing: bool = False
) -> ImportPlan:
    """Compare a file's users with a group's members.

    :param group_id: the group's secure ID.
    :param users: the file's users (:func:`file_users`).
    :param members: the group's members; whole domains in it are left alone (not counted, never removed).
    :param remove_missing: also list the members the file lacks (the import removes them).
    """
    rename: list[Rename] = []
    remove: list[str] = []
    in_group: set[str] = set()
    unchanged = 0
    sample: list[str] = []
    count = 0
    for member in members:
        if member.address is None:
            continue
        count += 1
        key = address_key(member.address)
        in_group.add(key)
        user = users.get(key)
        if user is None:
            if remove_missing:
                remove.append(member.address)
        elif user[1] != (member.name or "").strip():
            rename.append(Rename(user[0], member.name, user[1]))
        else:
            unchanged += 1
            if len(sample) < SHOWN_IN_PLAN:
                sample.append(user[0])
    add = tuple(address for key, (address, _) in users.items() if key not in in_group)
    return ImportPlan(
        group_id=group_id,
        group_members=count,
        file_users=len(users),
        add=add,
        rename=tuple(rename),
        unchanged=unchanged,
        unchanged_sample=tuple(sample),
        remove=tuple(remove) if remove_missing else None,
    )


def not_in_group(users: FileUsers, members: Iterable[GroupMember]) -> list[str]:
    """The file's addresses (as the file spells them) that the group lacks, in the file's order."""
    present = {address_key(m.address) for m in members if m.address is not None}
    return [address for key, (address, _) in users.items() if key not in present]


def not_in_group_report(missing: list[str]) -> dict[str, Any]:
    """The XCom value ``not_in_group``: the count and up to :data:`SHOWN_NOT_IN_GROUP` addresses."""
    return {"count": len(missing), "addresses": missing[:SHOWN_NOT_IN_GROUP]}
