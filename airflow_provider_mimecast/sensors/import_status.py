"""MimecastImportStatusSensor: wait until Mimecast user imports are completed."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_mimecast.completion import completed_result, event_result, log_statuses
from airflow_provider_mimecast.errors import MimecastError, MimecastMissingImportsError
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.status import all_completed, normalize_import_ids
from airflow_provider_mimecast.triggers.import_status import defer_until_completed

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg


class MimecastImportStatusSensor(BaseSensorOperator):
    """Waits until every given Mimecast user import is ``completed``.

    Fails at once, not at the timeout, when Mimecast reports a ``fail`` entry (an unknown or foreign
    import ID), rejects the credentials, or reports a status it does not document. The XCom return value
    is the final status: a dict under Mimecast's field names for one ID, a list of them for several.

    :param import_id: one import ID or a list of them (templated).
    :param mimecast_conn_id: the ``mimecast`` connection (templated).
    :param fail_on_partial_import: fail when a completed import imported fewer users than it held;
        by default that only logs a warning with both counts.
    :param deferrable: wait in the triggerer instead of a worker slot; defaults to
        ``[operators] default_deferrable``.
    :param hook_params: keyword arguments for :class:`MimecastHook` (``timeout``, ``max_retries``,
        ``retry_delay``), passed to the trigger as well.

    Every other argument of ``BaseSensorOperator`` applies: ``poke_interval``, ``timeout``, ``mode``,
    ``soft_fail`` (skips on timeout), ``exponential_backoff``.
    """

    template_fields: Sequence[str] = ("import_id", "mimecast_conn_id")
    #: Imports the last poke's answers left out (see :meth:`poke`), named by a poke-mode timeout.
    _unseen_import_ids: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        import_id: str | list[str] | XComArg,
        mimecast_conn_id: str = MimecastHook.default_conn_name,
        fail_on_partial_import: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.import_id = import_id
        self.mimecast_conn_id = mimecast_conn_id
        self.fail_on_partial_import = fail_on_partial_import
        self.deferrable = deferrable
        self.hook_params = dict(hook_params or {})

    @cached_property
    def hook(self) -> MimecastHook:
        return MimecastHook(self.mimecast_conn_id, **self.hook_params)

    @property
    def import_ids(self) -> list[str]:
        """The validated IDs; checked when the task starts, after templates are rendered."""
        return normalize_import_ids(self.import_id)

    def execute(self, context: Context) -> Any:
        ids = self.import_ids
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as timeout:
                if not self._unseen_import_ids:
                    raise
                raise AirflowSensorTimeout(
                    f"{timeout} Mimecast's last answer left out imports {list(self._unseen_import_ids)} "
                    "(no fail entry): their status was not seen"
                ) from timeout
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self.log.info("Deferring until Mimecast imports %s complete (timeout %.0f s)", ids, self.timeout)
        defer_until_completed(
            self,
            import_ids=ids,
            mimecast_conn_id=self.mimecast_conn_id,
            poll_interval=float(self.poke_interval),
            timeout=float(self.timeout),
            hook_params=self.hook_params,
        )

    def poke(self, context: Context) -> PokeReturnValue:
        try:
            statuses = self.hook.get_import_status(self.import_ids)
        except MimecastMissingImportsError as unseen:
            # Mimecast's answer (asked twice) left some imports out: not a success, since it was not seen,
            # nor a failure, since nothing said so. Keep waiting; the timeout names them.
            log_statuses(self.log, unseen.statuses)
            all_completed(unseen.statuses)  # an undocumented status of the others still fails at once
            self._unseen_import_ids = unseen.import_ids
            self.log.warning(
                "Mimecast's answer left out imports %s (no fail entry, asked twice): not seen this poke, "
                "still waiting",
                list(unseen.import_ids),
            )
            return PokeReturnValue(is_done=False)
        self._unseen_import_ids = ()
        log_statuses(self.log, statuses)
        if not all_completed(statuses):
            return PokeReturnValue(is_done=False)
        value = completed_result(
            statuses,
            single=isinstance(self.import_id, str),
            fail_on_partial_import=self.fail_on_partial_import,
            log=self.log,
        )
        return PokeReturnValue(is_done=True, xcom_value=value)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: success returns the statuses, errors raise."""
        return event_result(
            event,
            single=isinstance(self.import_id, str),
            fail_on_partial_import=self.fail_on_partial_import,
            log=self.log,
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSkipException as skipped:
            # BaseSensorOperator turns any error after a deferral into a skip under soft_fail, while poke
            # mode skips only on timeout. A bad import ID or credentials must fail in every mode.
            if isinstance(skipped.__cause__, MimecastError):
                raise skipped.__cause__ from None
            raise
