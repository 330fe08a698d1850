"""MimecastImportStatusSensor: wait until Mimecast user imports are completed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_mimecast.errors import MimecastMissingImportsError
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.outlets import report_result
from airflow_provider_mimecast.sensors.import_wait import ImportWait, end_rules
from airflow_provider_mimecast.status import all_completed, normalize_import_ids
from airflow_provider_mimecast.triggers.triggerer_options import refuse_end_from_trigger_with_listeners
from airflow_provider_mimecast.wait_outcome import completed_result, event_result, log_statuses

if TYPE_CHECKING:
    import datetime

    from airflow.sdk import Context, XComArg

#: What Airflow resumes a task with when its deferral timed out (``next_method``, and ``next_kwargs``'
#: error: Airflow 3's ``TriggerFailureReason.TRIGGER_TIMEOUT``, Airflow 2.11's scheduler's text).
_DEFERRAL_FAILED = "__fail__"
_DEFERRAL_TIMEOUTS = frozenset({"Trigger timeout", "Trigger/execution timeout"})
#: What soft_fail skips in BaseSensorOperator's poke loop besides its own timeout (never_fail too).
_SKIPPED_BY_SOFT_FAIL = (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException)


class MimecastImportStatusSensor(BaseSensorOperator):
    """Waits until every given Mimecast user import is ``completed`` (:doc:`waiting`).

    Fails at once, not at the timeout, on a definitive error (:ref:`the-sensor`). The XCom return value
    is the final status: a dict under Mimecast's field names for one ID, a list of them for several
    (:ref:`status-fields`).

    :param import_id: one import ID or a sequence of them, e.g. a mapped upload's ``output`` (templated).
    :param mimecast_conn_id: the ``mimecast`` connection (templated).
    :param fail_on_partial_import: fail when a completed import imported fewer users than it held;
        by default that only logs a warning with both counts.
    :param deferrable: wait in the triggerer instead of a worker slot; defaults to
        ``[operators] default_deferrable``.
    :param hook_params: keyword arguments for :class:`MimecastHook` (``timeout``, ``max_retries``,
        ``retry_delay``), passed to the trigger as well.
    :param end_from_trigger: with ``deferrable``, end the task in the triggerer instead of resuming it on a
        worker; refused when Airflow listeners are registered (docs/waiting.rst, "Waiting without a worker").
    :param check_before_deferring: with ``deferrable``, check once on the worker before deferring (default);
        False defers at once.
    :param start_from_trigger: with ``deferrable``, start the task in the triggerer, without a worker, where
        this Airflow can (else it starts on a worker and logs why).

    Every other argument of ``BaseSensorOperator`` applies: ``poke_interval``, ``timeout``, ``mode``,
    ``soft_fail`` (skips on timeout), ``never_fail`` (skips on any error but the timeout),
    ``exponential_backoff``; they mean the same in every mode (:ref:`soft-fail`).
    """

    template_fields: Sequence[str] = ("import_id", "mimecast_conn_id")
    #: Imports the last poke's answers left out (see :meth:`poke`), named by a poke-mode timeout.
    _unseen_import_ids: tuple[str, ...] = ()
    #: When Mimecast takes calls again after a rate limit the last check ran into (monotonic clock).
    _rate_limited_until: float | None = None

    def __init__(
        self,
        *,
        import_id: str | list[str] | XComArg,
        mimecast_conn_id: str = MimecastHook.default_conn_name,
        fail_on_partial_import: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        hook_params: dict[str, Any] | None = None,
        end_from_trigger: bool = False,
        check_before_deferring: bool = True,
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.import_id = import_id
        self.mimecast_conn_id = mimecast_conn_id
        self.fail_on_partial_import = fail_on_partial_import
        self.deferrable = deferrable
        self.hook_params = dict(hook_params or {})
        self.check_before_deferring = check_before_deferring
        # Airflow's own listener check at DAG parsing reads this attribute: true only where it applies.
        self.end_from_trigger = bool(end_from_trigger and deferrable)
        for option, asked in (
            ("end_from_trigger=True", end_from_trigger),
            ("start_from_trigger=True", start_from_trigger),
            ("check_before_deferring=False", not check_before_deferring),
        ):
            if asked and not deferrable:
                self.log.warning("%s has no effect without deferrable=True (task %s)", option, self.task_id)
        if self.end_from_trigger:
            refuse_end_from_trigger_with_listeners(self.task_id)
        #: Why start_from_trigger=True could not be honoured (logged when the task starts on a worker).
        self._not_started_in_triggerer: str | None = None
        if start_from_trigger and deferrable:
            native = self.has_dag() and bool(getattr(self.dag, "render_template_as_native_obj", False))
            self._not_started_in_triggerer = self._import_wait().start_in_triggerer(
                self.import_id, native_rendering=native
            )

    def _import_wait(self, context: Context | None = None) -> ImportWait:
        """How this task waits (:mod:`~airflow_provider_mimecast.sensors.import_wait`); ``context`` tells
        the end rules whether this try may be retried (None when the DAG is parsed).
        """
        return ImportWait(
            self,
            mimecast_conn_id=self.mimecast_conn_id,
            hook_params=self.hook_params,
            poll_interval=float(self.poke_interval),
            timeout=float(self.timeout),
            deferrable=self.deferrable,
            check_before_deferring=self.check_before_deferring,
            reschedule=self.reschedule,
            end_rules=end_rules(self, context) if self.end_from_trigger else None,
        )

    @cached_property
    def hook(self) -> MimecastHook:
        return self._import_wait().status_hook()

    @property
    def import_ids(self) -> list[str]:
        """The validated IDs; checked when the task starts, after templates are rendered."""
        return normalize_import_ids(self.import_id)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)  # the first poke checks the IDs, under Airflow's own rules
            except AirflowSensorTimeout as timeout:
                if not self._unseen_import_ids:
                    raise
                raise AirflowSensorTimeout(
                    f"{timeout} Mimecast's last answer left out imports {list(self._unseen_import_ids)} "
                    "(no fail entry): their status was not seen"
                ) from timeout
        if self.start_from_trigger or self._not_started_in_triggerer:
            self.log.info(
                "start_from_trigger=True, but this task started on a worker: %s",
                self._not_started_in_triggerer
                or "Airflow did not start it in the triggerer (mapped tasks never are)",
            )
        with self._skip_rules():
            ids = self.import_ids
            if self.check_before_deferring:
                first = self.poke(context)
                if first.is_done:
                    return first.xcom_value
        self._import_wait(context).defer(ids)

    def poke(self, context: Context) -> PokeReturnValue:
        try:
            statuses, check_again_in = self._import_wait(context).check(
                self.hook, self.import_ids, raise_missing=True
            )
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
        if statuses is None:
            self._rate_limited_until = time.monotonic() + check_again_in if check_again_in else None
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
        report_result(self, context, value)
        return PokeReturnValue(is_done=True, xcom_value=value)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: success returns the statuses, errors raise."""
        value = event_result(
            event,
            single=isinstance(self.import_id, str),
            fail_on_partial_import=self.fail_on_partial_import,
            log=self.log,
        )
        report_result(self, context, value)
        return value

    # -- waiting out rate limits (every mode) ------------------------------------------------------------

    def _get_next_poke_interval(
        self,
        started_at: datetime.datetime | float,
        run_duration: Callable[[], float],
        poke_count: int,
    ) -> float:
        # BaseSensorOperator's own hook for the next poke's delay (poke mode sleeps it, reschedule mode
        # reschedules by it), the same on 2.11 and 3.x: after a rate limit, no sooner than its reset, and
        # no later than the timeout, which still applies.
        interval = super()._get_next_poke_interval(started_at, run_duration, poke_count)
        until, self._rate_limited_until = self._rate_limited_until, None
        if until is None:
            return interval
        return max(interval, min(until - time.monotonic(), self.timeout - run_duration()))

    # -- soft_fail and never_fail, the same in every mode ---------------------------------------------

    @contextlib.contextmanager
    def _skip_rules(self) -> Iterator[None]:
        """Raise what the block raised, or skip as BaseSensorOperator's poke loop does on every Airflow line:
        ``soft_fail`` skips on a timeout only (the wait's, or ``execution_timeout``), ``never_fail`` on
        any error but the wait's own timeout. Used where that loop does not run: the deferrable sensor's
        check before deferring, and its resumption from the trigger.
        """
        try:
            yield
        except AirflowSkipException:
            raise
        except (Exception, AirflowTaskTimeout) as error:
            if self.soft_fail and isinstance(error, _SKIPPED_BY_SOFT_FAIL):
                raise AirflowSkipException(f"Skipping due to soft_fail: {error}") from error
            if self.never_fail and not isinstance(error, AirflowSensorTimeout):
                raise AirflowSkipException(f"Skipping due to never_fail: {error}") from error
            raise

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        # Not BaseSensorOperator's version, whose rules differ by Airflow line (2.11 and 3.0 skip any error
        # after a deferral under soft_fail and ignore never_fail; 3.1+ skip any error under either) and from
        # its own poke loop's: the sensor applies the poke loop's rules in every mode.
        with self._skip_rules():
            if next_method == _DEFERRAL_FAILED and (next_kwargs or {}).get("error") in _DEFERRAL_TIMEOUTS:
                # Airflow's backstop fired: the trigger never reported, not even its timeout.
                raise AirflowSensorTimeout(
                    "Timed out waiting for the Mimecast imports: the trigger did not report within the "
                    f"deferral's timeout ({(next_kwargs or {}).get('error')}); is a triggerer running?"
                )
            return super(BaseSensorOperator, self).resume_execution(next_method, next_kwargs, context)
