"""The hook's group-member calls: reading a group (every page, bounded), planning an import against it, and
removing one member. Thin I/O over the pure :mod:`~airflow_provider_mimecast.group_members` and
:mod:`~airflow_provider_mimecast.sync_plan`; mixed into :class:`~airflow_provider_mimecast.hooks.mimecast.MimecastHook`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_mimecast.endpoints import GET_GROUP_MEMBERS, REMOVE_GROUP_MEMBER, Endpoint
from airflow_provider_mimecast.envelope import parse_failures
from airflow_provider_mimecast.errors import FailureDetail, MimecastConfigurationError
from airflow_provider_mimecast.group_members import GroupMember, PageTokens, read_members_page
from airflow_provider_mimecast.sync_plan import ImportPlan, file_users, plan_import
from airflow_provider_mimecast.uploads import Upload, load_upload

if TYPE_CHECKING:
    from airflow_provider_mimecast.groups import DirectoryGroup


class _Hook(Protocol):
    """What the mixin uses of :class:`MimecastHook`."""

    @property
    def log(self) -> Any: ...

    def call(
        self,
        path: str | Endpoint,
        data: Any = None,
        *,
        meta: Any = None,
        idempotent: bool = False,
        allow_item_failures: bool = False,
    ) -> dict[str, Any]: ...

    def find_group(self, name: str, source: str | None = None) -> DirectoryGroup: ...

    def get_group_members(
        self, group_id: str, *, page_size: int = ..., max_pages: int = ...
    ) -> list[GroupMember]: ...


#: Members asked for per get-group-members page. Mimecast publishes no largest size (its example shows 25);
#: a server that answers fewer still hands out ``next``, which is followed.
DEFAULT_PAGE_SIZE = 500
DEFAULT_MAX_PAGES = 10_000


def _whole(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise MimecastConfigurationError(f"{name} must be a whole number of at least 1, not {value!r}")
    return value


def _group_id(group_id: Any) -> str:
    if not isinstance(group_id, str) or not group_id.strip():
        raise MimecastConfigurationError(
            f"group_id is {group_id!r}: pass the secure ID of the profile group (find_group gives it by name)"
        )
    return group_id.strip()


class GroupMembersMixin:
    """get-group-members, plan_import and remove-group-member for :class:`MimecastHook`."""

    def get_group_members(
        self: _Hook,
        group_id: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> list[GroupMember]:
        """Every member of a profile group (get-group-members), following every page.

        Needs the role permission Directories | Groups | Read (the API 2.0 catalogue lists Services |
        Directory Sync | Read). A page token handed out twice, an empty page that still names a next page, or
        more than ``max_pages`` pages raise :class:`~airflow_provider_mimecast.errors.MimecastInvalidResponseError`:
        the read always ends.

        :param group_id: the group's secure ID.
        :param page_size: members asked for per request.
        :param max_pages: the most pages followed.
        """
        group_id = _group_id(group_id)
        page_size, max_pages = _whole("page_size", page_size), _whole("max_pages", max_pages)
        tokens = PageTokens(group_id, max_pages)
        members: list[GroupMember] = []
        token: str | None = None
        while True:
            pagination = {"pageSize": page_size, **({"pageToken": token} if token else {})}
            document = self.call(GET_GROUP_MEMBERS, {"id": group_id}, meta={"pagination": pagination})
            page, next_token = read_members_page(document)
            members += page
            token = tokens.follow(len(page), next_token)
            if token is None:
                self.log.info(
                    "Mimecast group %s has %d members (%d pages)", group_id, len(members), tokens.pages
                )
                return members

    def plan_import(
        self: _Hook,
        source: Any,
        *,
        group_id: str | None = None,
        group_name: str | None = None,
        remove_missing: bool = False,
        file_type: str | None = None,
        invalid_rows: str = "fail",
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> ImportPlan:
        """What importing ``source`` into a group would change: an
        :class:`~airflow_provider_mimecast.sync_plan.ImportPlan` of the users it adds, renames, leaves
        unchanged and (with ``remove_missing``) removes. Reads the group; sends nothing else.

        :param source: what :meth:`import_users` takes (a path, bytes, rows or a checked ``Upload``).
        :param group_id: the group's secure ID.
        :param group_name: the group's name or folder path instead (:meth:`find_group`).
        :param remove_missing: also list the members the file lacks: pass it whenever the import removes
            members (``clear_group``, or the import operator's ``remove_missing``).
        :param file_type: ``csv`` or ``xlsx`` (an xls file's rows cannot be read); by default the suffix.
        :param invalid_rows: as for :meth:`import_users`.
        :param page_size: members asked for per get-group-members request.
        """
        if (group_id is None) == (group_name is None):
            raise MimecastConfigurationError("Pass exactly one of group_id and group_name to plan_import")
        resolved = _group_id(group_id) if group_name is None else self.find_group(group_name).id
        upload = (
            source
            if isinstance(source, Upload)
            else load_upload(source, file_type=file_type, invalid_rows=invalid_rows)
        )
        users = file_users(upload)
        return plan_import(
            resolved,
            users,
            self.get_group_members(resolved, page_size=page_size),
            remove_missing=remove_missing,
        )

    def remove_group_member(self: _Hook, group_id: str, address: str) -> tuple[FailureDetail, ...]:
        """Remove one address from a group (remove-group-member; Directories | Groups | Edit).

        Returns the ``fail`` entries Mimecast answered for it (empty when removed): Mimecast does not
        document what removing a non-member answers, so a caller that needs to know re-reads the group.

        :param group_id: the group's secure ID.
        :param address: the member's email address.
        """
        document = self.call(
            REMOVE_GROUP_MEMBER,
            {"id": _group_id(group_id), "emailAddress": address},
            allow_item_failures=True,
        )
        return parse_failures(document.get("fail"))
