"""The hook's user-import calls: starting an import (import-users) and reading the status of imports
(get-import-status), sync, async and batched for the triggerer's poller. Thin I/O over the pure
:mod:`~airflow_provider_mimecast.import_status_reader` and :mod:`~airflow_provider_mimecast.uploads`; mixed
into :class:`~airflow_provider_mimecast.hooks.mimecast.MimecastHook`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_mimecast.endpoints import GET_IMPORT_STATUS, IMPORT_USERS, Endpoint
from airflow_provider_mimecast.envelope import envelope_data
from airflow_provider_mimecast.errors import (
    MimecastConfigurationError,
    MimecastError,
    MimecastInvalidResponseError,
    MimecastUploadNotRetriedError,
    certainly_not_executed,
)
from airflow_provider_mimecast.hooks.calls import api_call
from airflow_provider_mimecast.import_status_reader import StatusCheck, status_request_data, statuses_by_id
from airflow_provider_mimecast.status import ImportStatus, normalize_import_ids
from airflow_provider_mimecast.uploads import Upload, load_upload

if TYPE_CHECKING:
    from airflow_provider_mimecast.hooks.client import MimecastClient
    from airflow_provider_mimecast.settings import MimecastSettings


class _Hook(Protocol):
    """What the mixin uses of :class:`MimecastHook`."""

    @property
    def log(self) -> Any: ...

    @property
    def settings(self) -> MimecastSettings: ...

    def call(
        self,
        path: str | Endpoint,
        data: Any = None,
        *,
        meta: Any = None,
        content: bytes | None = None,
        content_type: str = "application/octet-stream",
        idempotent: bool = False,
        allow_item_failures: bool = False,
        retry_rate_limits: bool = True,
    ) -> dict[str, Any]: ...

    async def acall(
        self,
        path: str | Endpoint,
        data: Any = None,
        *,
        meta: Any = None,
        content: bytes | None = None,
        content_type: str = "application/octet-stream",
        idempotent: bool = False,
        allow_item_failures: bool = False,
        retry_rate_limits: bool = True,
    ) -> dict[str, Any]: ...

    def async_session(self) -> contextlib.AbstractAsyncContextManager[Any]: ...

    async def _async_client(self) -> MimecastClient: ...


class UserImportsMixin:
    """import_users, get_import_status, aget_import_status and apoll_import_status for :class:`MimecastHook`."""

    def get_import_status(self: _Hook, import_ids: str | Sequence[str]) -> list[ImportStatus]:
        """Fetch the status of one or more imports; results come in the order asked.

        One request per ``status_batch_size`` IDs (the connection's extra, default 10). An ID the answer
        leaves out is asked for again once; then :class:`~airflow_provider_mimecast.errors.MimecastMissingImportsError`
        names it (:ref:`import-status`).

        :param import_ids: one import ID or a sequence of them, as returned by import-users.
        """
        check = StatusCheck(import_ids, self.settings.status_batch_size, log=self.log)
        for batch in check.batches():
            check.read(batch, self.call(GET_IMPORT_STATUS, status_request_data(batch)))
        return check.statuses()

    async def aget_import_status(self: _Hook, import_ids: str | Sequence[str]) -> list[ImportStatus]:
        """Async twin of :meth:`get_import_status` for triggers; never blocks the event loop.

        :param import_ids: one import ID or a sequence of them.
        """
        # One client for every request of the check (the open session's, if any).
        async with self.async_session():
            check = StatusCheck(
                import_ids, (await self._async_client()).settings.status_batch_size, log=self.log
            )
            for batch in check.batches():
                check.read(batch, await self.acall(GET_IMPORT_STATUS, status_request_data(batch)))
        return check.statuses()

    async def apoll_import_status(
        self: _Hook, import_ids: Sequence[str], *, keep_reserve: bool = True
    ) -> dict[str, ImportStatus | MimecastError]:
        """One get-import-status request for a batch of waits: each ID maps to its status, or to the
        error that concerns it alone (a ``fail`` entry naming it), so one bad ID fails only its own waits.

        Rate limits are not retried here: the caller (the shared poller) pauses once for every wait.
        A failure of the whole request (authentication, server errors after retries) is raised.

        :param import_ids: distinct import IDs.
        :param keep_reserve: False sends even into the connection's ``rate_limit_reserve`` (a wait's last
            check), never into an empty bucket.
        """
        ids = normalize_import_ids(list(import_ids))
        client = await self._async_client()
        call = api_call(
            GET_IMPORT_STATUS, status_request_data(ids), allow_item_failures=True, retry_rate_limits=False
        )
        call = dataclasses.replace(call, keep_rate_limit_reserve=keep_reserve)
        return statuses_by_id(ids, await client.acall(call), secrets=client.settings.secrets)

    def import_users(
        self: _Hook,
        source: Any,
        *,
        group_id: str,
        notify_email_address: str | None = None,
        clear_group: bool = False,
        allow_address_migration: bool = False,
        file_type: str | None = None,
        retry_ambiguous_failures: bool = False,
        invalid_rows: str = "fail",
    ) -> str:
        """Start a user import and return its ID (for :meth:`get_import_status`).

        The file is checked whole before upload (:ref:`checks`). An upload that failed after Mimecast may
        have accepted it is not retried but raises :class:`MimecastUploadNotRetriedError`, which fails the
        task without Airflow's retry (:ref:`no-duplicates`).

        :param source: a local path, a ``pathlib.Path`` or ``ObjectStoragePath``, raw bytes, or rows (an
            iterable of dicts with ``email`` and ``name`` keys, written as CSV with the keys of the first row
            as header); or an :class:`~airflow_provider_mimecast.uploads.Upload` from ``load_upload``, sent
            as it is.
        :param group_id: secure ID of the profile group the users go into.
        :param notify_email_address: who Mimecast emails when the import completes.
        :param clear_group: empty the group before importing.
        :param allow_address_migration: place users by each row's ``accountCode`` (AAA structures).
        :param file_type: ``csv``, ``xlsx`` or ``xls``; by default the path's suffix, or csv.
        :param retry_ambiguous_failures: retry even after the server may have accepted the upload,
            accepting the risk of a duplicate import.
        :param invalid_rows: ``fail`` refuses a file with invalid user rows before upload; ``drop`` sends a
            CSV without them (:ref:`invalid-rows`). Ignored for an ``Upload``, checked when it was loaded.
        """
        if not isinstance(group_id, str) or not group_id.strip():
            raise MimecastConfigurationError(
                "group_id is required: the secure ID of the profile group the users are imported into"
            )
        # An Upload was loaded and checked by the caller already (the operator digests its bytes).
        upload = (
            source
            if isinstance(source, Upload)
            else load_upload(source, file_type=file_type, invalid_rows=invalid_rows)
        )
        arguments: dict[str, Any] = {
            "groupId": group_id.strip(),
            "clearGroup": clear_group,
            "allowAddressMigration": allow_address_migration,
            "fileType": upload.file_type,
        }
        if notify_email_address:
            arguments["notifyEmailAddress"] = notify_email_address
        self.log.info(
            "Uploading %r (%d bytes) to Mimecast group %s", upload.name, len(upload.content), group_id
        )
        try:
            document = self.call(
                IMPORT_USERS,
                arguments,
                content=upload.content,
                content_type=upload.content_type,
                idempotent=retry_ambiguous_failures,
            )
            import_id = _started_import_id(document)
        except MimecastError as error:
            # Anything but a certain refusal may have started an import: a 5xx, a timeout or a connection
            # lost after sending, a 3xx, an answer without the ID.
            if retry_ambiguous_failures or certainly_not_executed(error, path=IMPORT_USERS.path):
                raise
            raise MimecastUploadNotRetriedError(
                f"The upload of {upload.name!r} failed after Mimecast may have accepted it ({error}). It was "
                "not retried, to avoid a duplicate import: check the Mimecast console's directory import "
                "list before running it again, or pass retry_ambiguous_failures=True to accept the risk",
                request_id=error.request_id,
                path=IMPORT_USERS.path,
            ) from error
        self.log.info("Mimecast accepted the import: id %s", import_id)
        return import_id


def _started_import_id(document: dict[str, Any]) -> str:
    """The new import's ID in an import-users answer (``data[0].id``; the schema is not published)."""
    data = envelope_data(document, path=IMPORT_USERS.path)
    import_id = data[0].get("id") if data else None
    if not isinstance(import_id, str) or not import_id:
        returned = f"data[0] keys {sorted(data[0])}" if data else "an empty data list"
        # An answer to the upload: it may have started an import.
        raise MimecastInvalidResponseError(
            f"import-users succeeded but returned no import ID in data[0].id (got {returned}); the "
            "import may exist: check the Mimecast console before running the task again",
            path=IMPORT_USERS.path,
        )
    return import_id
