"""A group's members from get-group-members pages, and when to stop following pages. Pure, no I/O.

Mimecast hands out ``meta.pagination.next`` "only if there are more results to return", but stubs and
proxies in the wild repeat it forever: a page token seen before, or an empty page that still says ``next``,
ends the read with an error rather than a loop.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mimecast.endpoints import GET_GROUP_MEMBERS
from airflow_provider_mimecast.errors import MimecastInvalidResponseError
from airflow_provider_mimecast.groups import read_page


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One member of a profile group, as get-group-members reports it (about 200 bytes each, strings
    included: 100,000 members take about 20 MB).

    :param address: the member's email address (``emailAddress``), as Mimecast spells it; None for a whole
        domain in the group (add-group-member takes a ``domain`` too), which a file of users never lists.
    :param name: the user's name, if Mimecast gave one.
    :param domain: the address's domain.
    :param internal: whether the domain is one of the account's internal domains.
    :param type: how the member was added, e.g. ``created_manually``.
    """

    address: str | None
    name: str | None = None
    domain: str | None = None
    internal: bool | None = None
    type: str | None = None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> GroupMember:
        """Build from one ``groupMembers`` item."""
        address = item.get("emailAddress")
        name, domain, kind, internal = (item.get(k) for k in ("name", "domain", "type", "internal"))
        if not isinstance(address, str) or not address:
            if not isinstance(domain, str) or not domain:
                raise MimecastInvalidResponseError(
                    "A get-group-members member has neither a string 'emailAddress' nor a 'domain' "
                    f"(keys: {sorted(item)[:10]})"
                )
            address = None  # a whole domain
        return cls(
            address=address,
            name=name if isinstance(name, str) else None,
            # Shared by most members: one string each, not one per member.
            domain=sys.intern(domain) if isinstance(domain, str) else None,
            internal=internal if isinstance(internal, bool) else None,
            type=sys.intern(kind) if isinstance(kind, str) else None,
        )


def read_members_page(document: Mapping[str, Any]) -> tuple[list[GroupMember], str | None]:
    """The members on one get-group-members page and the token of the next (None on the last).

    :param document: the checked envelope.
    """
    members, next_token = read_page(document, path=GET_GROUP_MEMBERS.path, items="groupMembers")
    return [GroupMember.from_api(m) for m in members], next_token


class PageTokens:
    """The page tokens of one read so far: refuses one seen before, one after an empty page, and more
    pages than ``max_pages``, so that every read of a group ends.

    :param group_id: the group read, for messages.
    :param max_pages: the most pages followed.
    """

    def __init__(self, group_id: str, max_pages: int) -> None:
        self.group_id = group_id
        self.max_pages = max_pages
        self.pages = 0
        self._seen: set[str] = set()

    def follow(self, page_length: int, token: str | None) -> str | None:
        """The token to ask for next after a page of ``page_length`` members, or None when the read is done.

        :raises MimecastInvalidResponseError: the pages would never end.
        """
        self.pages += 1
        if token is None:
            return None
        where = f"get-group-members for group {self.group_id!r}"
        if token in self._seen:
            raise MimecastInvalidResponseError(
                f"{where} handed out the same page token twice (page {self.pages}): its pages never end, so "
                "the group's members could not be read"
            )
        if page_length == 0:
            raise MimecastInvalidResponseError(
                f"{where} answered an empty page that still names a next page (page {self.pages}): its pages "
                "never end, so the group's members could not be read"
            )
        if self.pages >= self.max_pages:
            raise MimecastInvalidResponseError(
                f"{where} has more than {self.max_pages} pages: raise max_pages if the group is that large"
            )
        self._seen.add(token)
        return token
