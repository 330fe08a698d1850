"""The Mimecast endpoints the provider calls itself: one row each. Pure, no I/O.

Adding a built-in endpoint is a row here, a pure reader of its answer, and a hook method that passes the
row to ``MimecastHook.call`` (or ``acall``: the reader serves both), which takes the row's idempotency.
Any other endpoint is reached with ``call`` and its path, whose caller says whether it is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """One endpoint.

    :param path: the request path, appended to the connection's base URL.
    :param permission: the role permission it needs, quoted when Mimecast refuses it with a 403.
    :param idempotent: a retry may send it again after Mimecast may have acted on it (a read); an upload
        may not, since a second one is a second import.
    """

    path: str
    permission: str | None
    idempotent: bool


TOKEN = Endpoint("/oauth/token", None, idempotent=True)
GET_IMPORT_STATUS = Endpoint("/api/user/get-import-status", "Directories | Import | Read", idempotent=True)
IMPORT_USERS = Endpoint("/api/user/import-users", "Directories | Import | Edit", idempotent=False)
#: Edit, not Read: Mimecast's own API 1.0 page and the API 2.0 catalogue say so.
FIND_GROUPS = Endpoint("/api/directory/find-groups", "Directories | Groups | Edit", idempotent=True)
GET_GROUP_MEMBERS = Endpoint(
    "/api/directory/get-group-members",
    "Directories | Groups | Read (API 2.0 catalogue: Services | Directory Sync | Read)",
    idempotent=True,
)
#: Removing an address twice leaves the group as once: a retry may send it again.
REMOVE_GROUP_MEMBER = Endpoint(
    "/api/directory/remove-group-member", "Directories | Groups | Edit", idempotent=True
)
#: The cheap authenticated call behind ``test_connection``; Mimecast documents no permission for it.
GET_ACCOUNT = Endpoint("/api/account/get-account", None, idempotent=True)

ENDPOINTS = {
    e.path: e
    for e in (
        TOKEN,
        GET_IMPORT_STATUS,
        IMPORT_USERS,
        FIND_GROUPS,
        GET_GROUP_MEMBERS,
        REMOVE_GROUP_MEMBER,
        GET_ACCOUNT,
    )
}


def permission(path: str) -> str | None:
    """The role permission the endpoint at ``path`` needs, if it is one of ours and Mimecast names one.

    :param path: a request path.
    """
    endpoint = ENDPOINTS.get(path)
    return endpoint.permission if endpoint else None
