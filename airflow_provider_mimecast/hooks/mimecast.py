"""MimecastHook: the Airflow face of the provider. It turns a ``mimecast`` connection into settings (its
secrets masked), offers the API methods and the connection form, and leaves every call to a
:class:`~airflow_provider_mimecast.hooks.client.MimecastClient` built from those settings.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_mimecast.endpoints import FIND_GROUPS, GET_ACCOUNT, Endpoint
from airflow_provider_mimecast.envelope import envelope_data
from airflow_provider_mimecast.errors import (
    MimecastConfigurationError,
    MimecastError,
    MimecastGroupLookupError,
    MimecastInvalidResponseError,
)
from airflow_provider_mimecast.groups import DirectoryGroup, match_group, path_segments, read_groups_page
from airflow_provider_mimecast.hooks.calls import api_call
from airflow_provider_mimecast.hooks.client import MimecastClient
from airflow_provider_mimecast.hooks.connection_form import connection_form_widgets
from airflow_provider_mimecast.hooks.group_members import GroupMembersMixin
from airflow_provider_mimecast.hooks.masking import amask_secrets, mask_secrets
from airflow_provider_mimecast.hooks.user_imports import UserImportsMixin
from airflow_provider_mimecast.settings import MimecastSettings

__all__ = ["MimecastHook"]


class MimecastHook(BaseHook, UserImportsMixin, GroupMembersMixin):
    """Calls Mimecast's user-import API with the credentials of a ``mimecast`` connection.

    Supports API 2.0 (OAuth 2.0 client credentials, the default) and API 1.0 (HMAC-signed requests).
    Every request has a timeout; rate limits, server errors and dropped connections are retried with
    backoff (rate limits after Mimecast's ``X-RateLimit-Reset``), other 4xx answers never. See :doc:`hook`.
    The user-import calls (``import_users``, ``get_import_status``, ``aget_import_status``,
    ``apoll_import_status``) come from :class:`~airflow_provider_mimecast.hooks.user_imports.UserImportsMixin`,
    the group-member calls (``get_group_members``, ``plan_import``, ``remove_group_member``) from
    :class:`~airflow_provider_mimecast.hooks.group_members.GroupMembersMixin`.

    :param mimecast_conn_id: the ``mimecast`` connection to use.
    :param timeout: seconds for each HTTP request; overrides the connection's ``timeout`` extra.
    :param max_retries: retries after the first attempt; overrides the connection's ``max_retries`` extra.
    :param retry_delay: first backoff in seconds between retries of server errors (doubles each time,
        with jitter, up to 60 s).
    :param retry_rate_limits: False raises :class:`~airflow_provider_mimecast.errors.MimecastRateLimitError`
        at the first 429 of a call instead of sleeping until the reset, for a caller that waits elsewhere
        (a deferrable task's check before it defers).
    """

    conn_name_attr = "mimecast_conn_id"
    default_conn_name = "mimecast_default"
    conn_type = "mimecast"
    hook_name = "Mimecast"

    def __init__(
        self,
        mimecast_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_delay: float = 1.0,
        retry_rate_limits: bool = True,
    ) -> None:
        super().__init__()
        self.mimecast_conn_id = mimecast_conn_id
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.retry_rate_limits = retry_rate_limits
        self._client: MimecastClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mimecast_conn_id={self.mimecast_conn_id!r})"

    # ----------------------------------------------------------------- connection form metadata (2.11)
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the standard fields; read by Airflow before 3.2 (3.2+ reads the provider info instead)."""
        from airflow_provider_mimecast.get_provider_info import hook_field_behaviour

        return hook_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields for Airflow 2.11's connection form."""
        return connection_form_widgets()

    # ----------------------------------------------------------------- settings and the client
    @property
    def settings(self) -> MimecastSettings:
        """The validated connection settings (fetched once, synchronously)."""
        return self._sync_client().settings

    async def asettings(self) -> MimecastSettings:
        """The validated connection settings, fetched without blocking the event loop."""
        return (await self._async_client()).settings

    def _sync_client(self) -> MimecastClient:
        if self._client is None:
            conn = self.get_connection(self.mimecast_conn_id)
            settings = MimecastSettings.from_connection_fields(
                host=conn.host, login=conn.login, password=conn.password, extra=conn.extra_dejson
            )
            mask_secrets(settings.secrets)
            self._client = self._new_client(settings)
        return self._client

    async def _async_client(self) -> MimecastClient:
        if self._client is None:
            conn = await get_async_connection(self.mimecast_conn_id)
            settings = MimecastSettings.from_connection_fields(
                host=conn.host,
                login=conn.login,
                password=conn.password,
                extra=await get_async_extra_dejson(conn),
            )
            await amask_secrets(settings.secrets)
            self._client = self._new_client(settings)
        return self._client

    def _new_client(self, settings: MimecastSettings) -> MimecastClient:
        # The hook's own arguments override the connection's; the client never reads the hook again.
        return MimecastClient(
            settings,
            timeout=self.timeout,
            max_retries=self.max_retries,
            retry_delay=self.retry_delay,
            retry_rate_limits=self.retry_rate_limits,
            log=self.log,
        )

    def close(self) -> None:
        """Close the hook's pooled HTTP client (a new one opens on the next call)."""
        if self._client is not None:
            self._client.close()

    @contextlib.asynccontextmanager
    async def async_session(self) -> AsyncIterator[MimecastHook]:
        """Keep one keep-alive async client open for every async call made inside the block."""
        async with (await self._async_client()).session():
            yield self

    # ----------------------------------------------------------------- any endpoint
    def call(
        self,
        path: str | Endpoint,
        data: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        meta: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        content_type: str = "application/octet-stream",
        idempotent: bool = False,
        allow_item_failures: bool = False,
        retry_rate_limits: bool = True,
    ) -> dict[str, Any]:
        """POST to any Mimecast API endpoint, authenticated, retried, bounded in time and with errors mapped
        exactly as the built-in calls are; returns the checked envelope (``meta``, ``data``, ``fail``).

        Only calls Mimecast cannot have executed (a 429, a connection never made) are retried by default,
        since an arbitrary POST may change something; pass ``idempotent=True`` for reads (``get-...``,
        ``find-...``) to retry server errors and timeouts as well. See :ref:`any-endpoint`.

        :param path: the endpoint's path, e.g. ``/api/directory/get-group-members``, or one of the
            provider's :mod:`~airflow_provider_mimecast.endpoints` rows, which says itself whether the call
            is idempotent.
        :param data: the request's ``data``: one object or a list of them.
        :param meta: the request's ``meta``, e.g. ``{"pagination": {"pageSize": 100}}``.
        :param content: bytes to send as the body instead (an upload); ``data`` then travels in the
            ``x-mc-arg`` header.
        :param content_type: the media type of ``content``.
        :param idempotent: the call may be repeated after Mimecast may have acted on it.
        :param allow_item_failures: return the envelope even when ``fail`` lists some items, for the caller
            to read; by default any ``fail`` entry raises :class:`~airflow_provider_mimecast.errors.MimecastApiError`.
        :param retry_rate_limits: wait out a 429 and retry; False raises
            :class:`~airflow_provider_mimecast.errors.MimecastRateLimitError` at once.
        """
        request = api_call(
            path,
            data,
            meta=meta,
            content=content,
            content_type=content_type,
            idempotent=idempotent,
            allow_item_failures=allow_item_failures,
            retry_rate_limits=retry_rate_limits,
        )
        return self._sync_client().call(request)

    async def acall(
        self,
        path: str | Endpoint,
        data: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        meta: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        content_type: str = "application/octet-stream",
        idempotent: bool = False,
        allow_item_failures: bool = False,
        retry_rate_limits: bool = True,
    ) -> dict[str, Any]:
        """Async twin of :meth:`call`; never blocks the event loop. Inside :meth:`async_session` it reuses
        the session's client.

        :param path: the endpoint's path, or an endpoint row.
        :param data: the request's ``data``.
        :param meta: the request's ``meta``.
        :param content: bytes to send as the body instead.
        :param content_type: the media type of ``content``.
        :param idempotent: the call may be repeated after Mimecast may have acted on it.
        :param allow_item_failures: return the envelope even when ``fail`` lists some items.
        :param retry_rate_limits: wait out a 429 and retry.
        """
        request = api_call(
            path,
            data,
            meta=meta,
            content=content,
            content_type=content_type,
            idempotent=idempotent,
            allow_item_failures=allow_item_failures,
            retry_rate_limits=retry_rate_limits,
        )
        return await (await self._async_client()).acall(request)

    # ----------------------------------------------------------------- directory groups
    def find_groups(
        self, query: str, source: str | None = None, *, page_size: int = 100, max_pages: int = 50
    ) -> list[DirectoryGroup]:
        """Search the directory's profile groups (find-groups), following every page.

        Mimecast's search is free text: the result may hold groups whose names only resemble ``query``.
        :meth:`find_group` makes the exact match.

        :param query: the text to search for.
        :param source: ``cloud`` or ``ldap`` groups only; both by default.
        :param page_size: groups per request.
        :param max_pages: the most pages followed; more raises
            :class:`~airflow_provider_mimecast.errors.MimecastGroupLookupError` (narrow the query).
        """
        if not isinstance(query, str) or not query.strip():
            raise MimecastConfigurationError(
                f"query must be the text to search group names for, not {query!r}"
            )
        if source not in (None, "cloud", "ldap"):
            raise MimecastConfigurationError(f"source must be 'cloud', 'ldap' or None, not {source!r}")
        for name, value in (("page_size", page_size), ("max_pages", max_pages)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MimecastConfigurationError(
                    f"{name} must be a whole number of at least 1, not {value!r}"
                )
        item = {"query": query, **({"source": source} if source else {})}
        groups: dict[str, DirectoryGroup] = {}
        token: str | None = None
        tokens: set[str] = set()
        for _ in range(max_pages):
            pagination = {"pageSize": page_size, **({"pageToken": token} if token else {})}
            document = self.call(FIND_GROUPS, item, meta={"pagination": pagination})
            page, token = read_groups_page(document)
            for group in page:
                groups.setdefault(group.id, group)
            if token is None:
                return list(groups.values())
            if token in tokens:
                raise MimecastInvalidResponseError(
                    f"find-groups for {query!r} handed out the same page token twice: its pages never end"
                )
            tokens.add(token)
        raise MimecastGroupLookupError(
            f"find-groups for {query!r} has more than {max_pages} pages of {page_size} groups: use a narrower "
            "query, or raise max_pages"
        )

    def find_group(self, name: str, source: str | None = None) -> DirectoryGroup:
        """The one profile group named ``name`` exactly, or at the folder path ``name`` (``EMEA/Sales``).

        One find-groups search for the name, and for a path one for each of its folders.

        :param name: the group's name as Mimecast spells it (case-sensitive), or its folder path.
        :param source: ``cloud`` or ``ldap`` groups only; both by default.
        :raises MimecastGroupLookupError: no group or several match; the message lists the candidates.
        """
        if not isinstance(name, str) or not name.strip():
            raise MimecastConfigurationError(
                f"The group's name must be a non-empty string such as 'Sales' or 'EMEA/Sales', not {name!r}"
            )
        name = name.strip()
        found = {name: self.find_groups(name, source)}
        for folder in path_segments(name) or ():
            if folder not in found:
                found[folder] = self.find_groups(folder, source)
        group = match_group(name, found)
        self.log.info("Mimecast group %r is %s", name, group.describe())
        return group

    # ----------------------------------------------------------------- other calls
    def test_connection(self) -> tuple[bool, str]:
        """Authenticate and call get-account; returns ``(ok, message)`` and never raises."""
        try:
            document = self.call(GET_ACCOUNT)
            accounts = envelope_data(document, path=GET_ACCOUNT.path)
        except MimecastError as error:
            return False, str(error)
        except Exception as error:  # test_connection must report, not raise
            return False, f"{type(error).__name__}: {error}"
        name = accounts[0].get("accountName") if accounts else None
        settings = self.settings
        return True, (
            f"Connected to Mimecast at {settings.base_url} with {settings.auth_type.value}"
            + (f" (account {name})" if name else "")
        )
