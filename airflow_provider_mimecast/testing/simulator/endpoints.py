"""The API endpoints the simulator implements, behind authentication."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection

from .auth import Authenticator
from .directory import Directory
from .files import count_rows
from .imports import ImportStore, requested_ids
from .members import GroupMembers
from .rate_limits import Rate
from .responses import Response, envelope, rate_limited, v1_error

TOKEN_PATH = "/oauth/token"
GET_IMPORT_STATUS_PATH = "/api/user/get-import-status"
IMPORT_USERS_PATH = "/api/user/import-users"
GET_ACCOUNT_PATH = "/api/account/get-account"
FIND_GROUPS_PATH = "/api/directory/find-groups"
GET_GROUP_MEMBERS_PATH = "/api/directory/get-group-members"
ADD_GROUP_MEMBER_PATH = "/api/directory/add-group-member"
REMOVE_GROUP_MEMBER_PATH = "/api/directory/remove-group-member"

#: The role permission each endpoint needs, as Mimecast's pages name them (get-group-members: the API 1.0
#: page's; the API 2.0 catalogue lists Services | Directory Sync | Read). ``MimecastSimulator.revoke``
#: takes one away: its endpoints then answer 403.
PERMISSIONS = {
    GET_IMPORT_STATUS_PATH: "Directories | Import | Read",
    IMPORT_USERS_PATH: "Directories | Import | Edit",
    FIND_GROUPS_PATH: "Directories | Groups | Edit",
    GET_GROUP_MEMBERS_PATH: "Directories | Groups | Read",
    ADD_GROUP_MEMBER_PATH: "Directories | Groups | Edit",
    REMOVE_GROUP_MEMBER_PATH: "Directories | Groups | Edit",
}

_FILE_TYPES = frozenset({"csv", "xlsx", "xls"})


class MimecastApi:
    """Answers requests as Mimecast would, faults aside.

    :param auth: issues tokens and checks signatures.
    :param imports: where imports are created and looked up.
    :param group_ids: when given, the only group IDs ``import-users`` accepts.
    :param accept_row: decides whether one user row is imported successfully.
    :param max_status_ids: the most IDs one get-import-status call may carry; None for no limit.
    :param directory: the profile groups find-groups searches.
    :param members: the groups' members; by default every group ID import-users accepts exists.
    """

    def __init__(
        self,
        auth: Authenticator,
        imports: ImportStore,
        group_ids: Collection[str] | None,
        accept_row: Callable[[dict[str, str]], bool],
        *,
        max_status_ids: int | None = 10,
        directory: Directory | None = None,
        members: GroupMembers | None = None,
    ) -> None:
        self.auth = auth
        self.imports = imports
        self.group_ids = frozenset(group_ids) if group_ids is not None else None
        self.accept_row = accept_row
        self.max_status_ids = max_status_ids
        self.directory = directory if directory is not None else Directory()
        self.members = members if members is not None else GroupMembers(self._state, self.known_group)
        #: Permissions the API user's role lacks (``MimecastSimulator.revoke``).
        self.revoked: set[str] = set()
        self._handlers: dict[str, Callable[[dict[str, str], bytes], Response]] = {
            GET_IMPORT_STATUS_PATH: self._get_import_status,
            IMPORT_USERS_PATH: self._import_users,
            GET_ACCOUNT_PATH: self._get_account,
            FIND_GROUPS_PATH: lambda headers, body: self.directory.find_groups(body),
            GET_GROUP_MEMBERS_PATH: lambda headers, body: self.members.get_group_members(body),
            ADD_GROUP_MEMBER_PATH: lambda headers, body: self.members.add_group_member(body),
            REMOVE_GROUP_MEMBER_PATH: lambda headers, body: self.members.remove_group_member(body),
        }

    def known_group(self, group_id: str) -> bool:
        """Whether import-users would accept ``group_id``: a directory group, or any ID without ``group_ids``."""
        if any(g.id == group_id for g in self.directory.groups()):
            return True
        return self.group_ids is None or group_id in self.group_ids

    def _state(self, import_id: str) -> str:
        return self.imports.state(import_id)

    def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, rate: Rate | None
    ) -> Response:
        """Route one request.

        :param method: the HTTP method.
        :param path: the request path, without the query.
        :param headers: request headers, names in lower case.
        :param body: the request body.
        :param rate: this call's place in its rate-limit window; None for the token endpoint.
        """
        if path != TOKEN_PATH and path not in self._handlers:
            return v1_error(404, "err_not_found", f"No such endpoint: {path}")
        if method != "POST":
            return v1_error(405, "err_method_not_allowed", f"{method} is not allowed; use POST")
        if path == TOKEN_PATH:
            return self.auth.issue_token(body)
        if rate is not None and rate.exceeded:
            return rate_limited(rate.limit, rate.reset_ms)
        refused = self.auth.authenticate(path, headers)
        if refused is None and PERMISSIONS.get(path) in self.revoked:
            needed = PERMISSIONS[path]
            # The simulator's code: Mimecast documents the 403, not the code it carries.
            refused = v1_error(403, "err_xdk_operation_forbidden", f"The role lacks the permission {needed}")
        return refused or self._handlers[path](headers, body)

    def _get_account(self, headers: dict[str, str], body: bytes) -> Response:
        account = {
            "accountName": "Mimecast Simulator",
            "accountCode": "CSIM0A0",
            "region": "sim",
            "mailboxes": 0,
        }
        return envelope(200, data=[account])

    def _get_import_status(self, headers: dict[str, str], body: bytes) -> Response:
        ids = requested_ids(body)
        if ids is None:
            message = 'The request body must be {"data": [{"id": "<import id>"}, ...]}'
            return v1_error(400, "err_validation_null", message, field="id")
        if self.max_status_ids is not None and len(ids) > self.max_status_ids:
            # Mimecast's reference: "up to 10 user import requests in a single API call". What it answers
            # beyond that is not published; a validation error is the simulator's choice.
            message = f"At most {self.max_status_ids} import IDs can be checked in one call, got {len(ids)}"
            return v1_error(400, "err_validation_max_items_exceeded", message, field="data")
        data, missing = self.imports.statuses(ids)
        fail = [
            {
                "key": {"id": import_id},
                "errors": [
                    {
                        "code": "err_import_not_found",
                        "message": f"Import {import_id} not found",
                        "retryable": False,
                    }
                ],
            }
            for import_id in missing
        ]
        return envelope(200, data=data, fail=fail)

    def _import_users(self, headers: dict[str, str], body: bytes) -> Response:
        try:
            params = json.loads(headers["x-mc-arg"])["data"][0]
            if not isinstance(params, dict):
                raise TypeError
        except (KeyError, ValueError, TypeError, IndexError):
            message = 'The x-mc-arg header must be JSON like {"data": [{"groupId": ..., "fileType": "csv"}]}'
            return v1_error(400, "err_validation_null", message, field="x-mc-arg")
        group_id = params.get("groupId")
        if not isinstance(group_id, str) or not group_id.strip():
            return v1_error(400, "err_validation_blank", "groupId must not be blank", field="groupId")
        if self.group_ids is not None and group_id not in self.group_ids:
            return v1_error(400, "err_group_not_found", f"Group {group_id} not found", field="groupId")
        file_type = params.get("fileType")
        if not isinstance(file_type, str) or file_type.lower() not in _FILE_TYPES:
            message = f"fileType must be one of csv, xlsx, xls, not {file_type!r}"
            return v1_error(400, "err_validation_invalid_file_type", message, field="fileType")
        if not body:
            return v1_error(400, "err_validation_empty_file", "The file is empty", field="file")
        counted = count_rows(body, file_type.lower(), self.accept_row)
        if isinstance(counted, Response):
            return counted
        total, successful, accepted = counted
        notify = params.get("notifyEmailAddress")
        import_id = self.imports.create(
            total_users=total,
            successful_imported_users=successful,
            group_id=group_id,
            notify_email_address=notify if isinstance(notify, str) else None,
            pending_seconds=None,
            processing_seconds=None,
            clear_group=params.get("clearGroup") is True,
            allow_address_migration=params.get("allowAddressMigration") is True,
        )
        users = [(user["email"], user.get("name")) for user in accepted]
        self.members.track_import(import_id, group_id, users, clear_group=params.get("clearGroup") is True)
        return envelope(200, data=[{"id": import_id}])
