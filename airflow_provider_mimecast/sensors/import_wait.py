"""The task side of waiting for imports, shared by
:class:`~airflow_provider_mimecast.sensors.import_status.MimecastImportStatusSensor` and
:class:`~airflow_provider_mimecast.operators.import_users.MimecastImportUsersOperator`: the status check
on the worker (what "check again later" means), deferring to the trigger or starting the task in it, the
task's end rules for ``end_from_trigger``, and the blocking wait of the operator that does not defer.

The triggerer's side is :mod:`~airflow_provider_mimecast.triggers.import_status` (the trigger and its
kwargs) and :mod:`~airflow_provider_mimecast.triggers.task_end` (ending a task there); what a finished wait
means, on either side, is :mod:`~airflow_provider_mimecast.wait_outcome`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, BaseOperator

from airflow_provider_mimecast.errors import MimecastError, MimecastMissingImportsError
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.status import ImportStatus, all_completed
from airflow_provider_mimecast.triggers.import_status import (
    TRIGGER_CLASSPATH,
    MimecastImportStatusTrigger,
    trigger_kwargs,
)
from airflow_provider_mimecast.triggers.task_end import EndRules
from airflow_provider_mimecast.triggers.triggerer_options import (
    StartTriggerArgs,
    refuse_end_from_trigger_with_listeners,
    why_not_start_in_triggerer,
)
from airflow_provider_mimecast.wait_outcome import check_again_in, completed_result, log_statuses

#: Extra time the triggerer allows past the trigger's own deadline before Airflow times the deferral out;
#: the trigger normally reports the timeout itself, after its last check. Long enough for a trigger picked
#: up late by another triggerer (after the first one died) to still make that check.
DEFERRAL_GRACE_SECONDS = 300.0


def deferral_timeout(timeout: float, poll_interval: float) -> timedelta:
    """The deferral's own Airflow timeout: a backstop only, should the trigger never fire."""
    return timedelta(seconds=timeout + poll_interval + DEFERRAL_GRACE_SECONDS)


def retries_left(task: Any, context: Any) -> bool:
    """Whether Airflow may still retry this try of ``task`` (its try number is at most its retries); without
    a context (when the DAG is parsed), whether the task has retries at all.
    """
    try_number = getattr(context["ti"], "try_number", None) if context and "ti" in context else None
    return bool(task.retries) and (not isinstance(try_number, int) or try_number <= task.retries)


def end_rules(task: Any, context: Any = None) -> EndRules:
    """What the trigger needs to end ``task`` (the sensor) as its ``execute_complete`` and skip rules
    would: read from its ``import_id``, ``fail_on_partial_import``, ``soft_fail`` and ``never_fail``, and
    from whether this try may be retried (``context``; None when the DAG is parsed).
    """
    return EndRules(
        single=isinstance(task.import_id, str),
        fail_on_partial_import=task.fail_on_partial_import,
        soft_fail=task.soft_fail,
        never_fail=task.never_fail,
        fail_in_trigger=not retries_left(task, context),
    )


@dataclass(frozen=True)
class ImportWait:
    """How one task waits for its imports, read from the task once its templates are rendered.

    :param task: the waiting task (its ``log``, ``task_id`` and ``defer``).
    :param mimecast_conn_id: the ``mimecast`` connection.
    :param hook_params: keyword arguments for :class:`MimecastHook`, passed to the trigger as well.
    :param poll_interval: seconds between two checks: the sensor's ``poke_interval``, the operator's
        ``poll_interval`` (the trigger's ``poll_interval`` either way).
    :param timeout: seconds the wait may take, from now.
    :param deferrable: wait in the triggerer, after at most one check on the worker.
    :param check_before_deferring: check once on the worker before deferring.
    :param reschedule: the sensor's reschedule mode, which frees its worker between checks too.
    :param end_rules: the task's end rules when the triggerer ends it (``end_from_trigger``), else None.
    """

    task: BaseOperator
    mimecast_conn_id: str
    hook_params: dict[str, Any]
    poll_interval: float
    timeout: float
    deferrable: bool
    check_before_deferring: bool = True
    reschedule: bool = False
    end_rules: EndRules | None = None

    def status_hook(self, task_hook: MimecastHook | None = None) -> MimecastHook:
        """The hook of the wait's checks: a deferrable wait checks once on the worker and leaves a rate
        limit to the triggerer to wait out; a wait that does not defer checks with ``task_hook`` when given.

        :param task_hook: the task's own hook, whose connection and pooled client the checks then reuse.
        """
        if self.deferrable:
            return MimecastHook(self.mimecast_conn_id, **{**self.hook_params, "retry_rate_limits": False})
        return task_hook or MimecastHook(self.mimecast_conn_id, **self.hook_params)

    def check(
        self, hook: MimecastHook, import_ids: list[str], *, raise_missing: bool = False
    ) -> tuple[list[ImportStatus] | None, float]:
        """The imports' statuses, or None and the seconds to let pass when the check should simply happen
        again later (:func:`~airflow_provider_mimecast.wait_outcome.check_again_in`): a rate limit (every
        mode, at its reset) or, for a wait that costs no worker between checks (deferrable, reschedule
        mode), a transient failure left after the hook's retries.

        :param raise_missing: raise :class:`MimecastMissingImportsError` (the sensor keeps waiting on it and
            names the imports at its timeout) rather than take it as any transient failure.
        """
        try:
            return hook.get_import_status(import_ids), 0.0
        except MimecastError as error:
            if raise_missing and isinstance(error, MimecastMissingImportsError):
                raise
            wait = check_again_in(error, costs_no_worker=self.deferrable or self.reschedule)
            if wait is None:
                raise
            later = (
                "in the triggerer" if self.deferrable else f"in {wait:.0f} s" if wait else "at the next poke"
            )
            self.task.log.warning("Mimecast could not be checked (%s); checking again %s", error, later)
            return None, wait

    def defer(self, import_ids: list[str]) -> NoReturn:
        """Defer the task to a :class:`MimecastImportStatusTrigger` whose deadline is ``timeout`` from now;
        the task resumes in its ``execute_complete``, or with ``end_rules`` ends in the triggerer, which
        Airflow refuses when listeners are registered (raised here with the fix).
        """
        if self.end_rules is not None:
            refuse_end_from_trigger_with_listeners(self.task.task_id)
        self.task.log.info(
            "Deferring %suntil Mimecast imports %s complete (timeout %.0f s)%s",
            "" if self.check_before_deferring else "without a check first (check_before_deferring=False) ",
            import_ids,
            self.timeout,
            "; the triggerer ends the task (end_from_trigger=True)" if self.end_rules is not None else "",
        )
        self.task.defer(
            trigger=MimecastImportStatusTrigger(
                **self._trigger_kwargs(import_ids=import_ids, end_time=time.time() + self.timeout)
            ),
            method_name="execute_complete",
            timeout=deferral_timeout(self.timeout, self.poll_interval),
        )

    def start_in_triggerer(self, import_id: Any, *, native_rendering: bool) -> str | None:
        """Set Airflow's ``start_from_trigger`` and ``start_trigger_args`` on the task where this Airflow
        can start it in the triggerer (its trigger reads ``import_id`` there); else return why it starts
        on a worker, logged.

        :param import_id: the task's ``import_id``, as given (templates unrendered).
        :param native_rendering: whether the DAG renders templates as native objects.
        """
        why = why_not_start_in_triggerer(
            {"import_id": import_id, "mimecast_conn_id": self.mimecast_conn_id},
            native_rendering=native_rendering,
        )
        if why is not None:
            self.task.log.warning(
                "start_from_trigger=True, but task %s starts on a worker: %s", self.task.task_id, why
            )
            return why
        self.task.start_from_trigger = True
        self.task.start_trigger_args = StartTriggerArgs(
            trigger_cls=TRIGGER_CLASSPATH,
            trigger_kwargs=self._trigger_kwargs(
                import_ids=[],
                end_time=None,
                timeout=self.timeout,
                import_id=import_id if isinstance(import_id, str) else list(import_id),
            ),
            next_method="execute_complete",
            next_kwargs=None,
            timeout=deferral_timeout(self.timeout, self.poll_interval),
        )
        return None

    def _trigger_kwargs(self, **where: Any) -> dict[str, Any]:
        return trigger_kwargs(
            mimecast_conn_id=self.mimecast_conn_id,
            poll_interval=self.poll_interval,
            hook_params=self.hook_params,
            end_rules=self.end_rules,
            **where,
        )

    def until_completed(
        self, import_id: str, *, fail_on_partial_import: bool, task_hook: MimecastHook | None = None
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """The operator's wait for its new import: check, then defer (``deferrable``) or sleep
        ``poll_interval`` (a rate limit's reset at least) until it completes or ``timeout`` passes.

        :param task_hook: the task's own hook (:meth:`status_hook`).
        """
        deadline = time.monotonic() + self.timeout
        if self.deferrable and not self.check_before_deferring:
            self.defer([import_id])
        hook = self.status_hook(task_hook)
        while True:
            statuses, rate_limited_for = self.check(hook, [import_id])
            if statuses is not None:
                log_statuses(self.task.log, statuses)
            if statuses is not None and all_completed(statuses):
                return completed_result(
                    statuses, single=True, fail_on_partial_import=fail_on_partial_import, log=self.task.log
                )
            if self.deferrable:
                self.defer([import_id])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                last = statuses[0].summary() if statuses else "its status was not seen"
                raise AirflowSensorTimeout(
                    f"Mimecast import {import_id} did not complete within {self.timeout:.0f} s "
                    f"({last}); it goes on in Mimecast: clearing this task resumes "
                    "waiting on it, or wait for it with MimecastImportStatusSensor"
                )
            time.sleep(min(max(self.poll_interval, rate_limited_for), remaining))
