"""MimecastGetImportStatusOperator: read an import's status once and share it through XCom."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.status import normalize_import_ids
from airflow_provider_mimecast.wait_outcome import log_statuses

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg


class MimecastGetImportStatusOperator(BaseOperator):
    """Fetches the status of Mimecast user imports once, whatever their state.

    The return value is the status dict (one ID) or a list of them, under Mimecast's field names; for one
    ID each field is also pushed under its own XCom key, e.g. ``successfulImportedUsers``
    (:ref:`status-operator`).

    :param import_id: one import ID or a sequence of them, e.g. a mapped upload's ``output`` (templated).
    :param mimecast_conn_id: the ``mimecast`` connection (templated).
    :param hook_params: keyword arguments for :class:`MimecastHook` (``timeout``, ``max_retries``, ...).
    """

    template_fields: Sequence[str] = ("import_id", "mimecast_conn_id")

    def __init__(
        self,
        *,
        import_id: str | list[str] | XComArg,
        mimecast_conn_id: str = MimecastHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.import_id = import_id
        self.mimecast_conn_id = mimecast_conn_id
        self.hook_params = dict(hook_params or {})

    @cached_property
    def hook(self) -> MimecastHook:
        return MimecastHook(self.mimecast_conn_id, **self.hook_params)

    def execute(self, context: Context) -> dict[str, Any] | list[dict[str, Any]]:
        statuses = self.hook.get_import_status(normalize_import_ids(self.import_id))
        log_statuses(self.log, statuses)
        values = [status.as_dict() for status in statuses]
        if not isinstance(self.import_id, str):
            return values
        for key, value in values[0].items():
            # An absent key pulls as None too; pushing None fails on Airflow 3.0 (apache/airflow#55062: its
            # Task SDK sends no body, which the Execution API refuses with a 422).
            if value is not None:
                context["ti"].xcom_push(key=key, value=value)
        return values[0]
