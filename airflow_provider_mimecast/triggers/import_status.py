"""MimecastImportStatusTrigger: waits for imports in the triggerer without holding a worker slot."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mimecast.errors import MimecastConfigurationError, is_transient
from airflow_provider_mimecast.status import ImportStatus, all_completed, normalize_import_ids
from airflow_provider_mimecast.triggers.poller import POLLERS, Report
from airflow_provider_mimecast.triggers.task_end import (
    END_RULES_KWARGS,
    EndRules,
    ordinary_event,
    task_end,
    with_payload_for_dag_test,
)
from airflow_provider_mimecast.wait_event import ImportWaitEvent
from airflow_provider_mimecast.wait_outcome import failure_message, log_statuses

#: How long past its deadline (or past its start, for a trigger that starts after its deadline) a wait still
#: expects the poller's last report before giving up on it.
REPORT_GRACE_SECONDS = 60.0


class MimecastImportStatusTrigger(BaseTrigger):
    """Polls get-import-status, through its connection's shared poller, until every import is completed,
    then fires exactly one event: ``success``, ``error`` or, after a last check at ``end_time``,
    ``timeout`` (:ref:`trigger-events`). Transient failures keep the wait waiting until ``end_time``
    (:ref:`failures in the triggerer <trigger-failures>`).

    :param import_ids: the import IDs to wait for.
    :param mimecast_conn_id: the ``mimecast`` connection.
    :param poll_interval: seconds between two checks.
    :param end_time: the deadline as a Unix timestamp (seconds); None with ``timeout``.
    :param hook_params: keyword arguments for :class:`MimecastHook` (``timeout``, ``retry_delay``, ...).
    :param end_from_trigger: end the task here with Airflow's task-end events instead of resuming it on a
        worker (docs/waiting.rst); the task's end rules come as keyword arguments, one per field of
        :class:`~airflow_provider_mimecast.triggers.task_end.EndRules` (``single``, ``soft_fail``, ...).
    :param started_import_key: accepted and ignored (see the constructor's comment).
    :param timeout: with ``start_from_trigger``: the deadline in seconds from when the trigger starts.
    :param import_id: with ``start_from_trigger``: the task's ``import_id`` (rendered by the triggerer where
        Airflow renders templates there), read instead of ``import_ids``.

    The keyword arguments after ``hook_params`` are serialized only when used: a trigger without them
    serializes as releases before them did.
    """

    def __init__(
        self,
        import_ids: list[str],
        mimecast_conn_id: str,
        poll_interval: float,
        end_time: float | None = None,
        hook_params: dict[str, Any] | None = None,
        *,
        end_from_trigger: bool = False,
        started_import_key: str | None = None,
        timeout: float | None = None,
        import_id: Any = None,
        **end_rules: Any,
    ) -> None:
        super().__init__()
        self.import_ids = list(import_ids)
        self.mimecast_conn_id = mimecast_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.hook_params = dict(hook_params or {})
        self.end_from_trigger = end_from_trigger
        unknown = set(end_rules) - set(END_RULES_KWARGS)
        if unknown:
            raise TypeError(f"MimecastImportStatusTrigger got unexpected keyword arguments {sorted(unknown)}")
        self.end_rules = EndRules(**end_rules)
        # started_import_key is no longer used: a trigger that an earlier build of this (unreleased) version
        # serialized for MimecastImportUsersOperator(end_from_trigger=True) may still carry it, and a
        # triggerer must still be able to build that trigger after an upgrade. The trigger no longer deletes
        # the operator's retry record: that operator can no longer end in the triggerer, and triggers do
        # not import operators. serialize() leaves it out.
        del started_import_key
        self.timeout = timeout
        self.import_id = import_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", trigger_kwargs(
            import_ids=self.import_ids,
            mimecast_conn_id=self.mimecast_conn_id,
            poll_interval=self.poll_interval,
            end_time=self.end_time,
            hook_params=self.hook_params,
            end_rules=self.end_rules if self.end_from_trigger else None,
            timeout=self.timeout,
            import_id=self.import_id,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            interval, end_time = _seconds("poll_interval", self.poll_interval), self._end_time()
            # An empty list would "complete" without a single answer; a repeated ID is a bug upstream.
            if self.import_id is not None:
                self.import_ids = normalize_import_ids(self.import_id)
            else:
                self.import_ids = normalize_import_ids(self.import_ids, argument="import_ids")
            poller = POLLERS.poller(self.mimecast_conn_id, self.hook_params, log=self.log)
            # The poller keeps time with the monotonic clock; end_time is wall-clock, as serialized. Read
            # once: a wall clock that jumps later does not move the deadline.
            now = time.monotonic()
            deadline = now + (end_time - time.time())
            # A trigger that starts after its deadline (picked up late after a triggerer died) still makes its
            # last check: the poller polls it at once, and it waits for that answer.
            give_up_at = max(deadline, now) + REPORT_GRACE_SECONDS
            async with poller.register(self.import_ids, interval=interval, deadline=deadline) as wait:
                shown: dict[str, str] = {}
                while True:
                    report = await wait.next_report(give_up_at=give_up_at)
                    if report is None:
                        why = (
                            wait.problem
                            or poller.problem
                            or "no answer from Mimecast came before the deadline"
                        )
                        yield self._fire(self._timeout_event([], {i: why for i in self.import_ids}))
                        return
                    event = self._event(report, final=time.monotonic() >= deadline, shown=shown)
                    if event is not None:
                        yield self._fire(event)
                        return
        except Exception as error:
            # A trigger that crashes leaves its task deferred until the deferral timeout: report instead.
            yield self._fire(ImportWaitEvent.error(failure_message(error)))

    def _end_time(self) -> float:
        """The deadline: ``end_time``, or ``timeout`` from now for a trigger the task started in."""
        if self.end_time is None and self.timeout is not None:
            self.end_time = time.time() + _seconds("timeout", self.timeout)
        return _seconds("end_time", self.end_time)

    def _fire(self, wait: ImportWaitEvent) -> TriggerEvent:
        """The event the trigger yields for how its wait ended: the ordinary one, which resumes the task
        on a worker, or with ``end_from_trigger`` the one that ends the task here.
        """
        if not self.end_from_trigger:
            return ordinary_event(wait)
        try:
            event = task_end(wait, self.end_rules, log=self.log)
        except Exception as error:  # a bug here must not leave the task deferred: the worker decides
            self.log.exception("Could not end the task in the triggerer (%s): resuming it on a worker", error)
            return ordinary_event(wait)
        return with_payload_for_dag_test(event, wait)

    def _event(self, report: Report, *, final: bool, shown: dict[str, str]) -> ImportWaitEvent | None:
        statuses: list[ImportStatus] = []
        unseen: dict[str, str] = {}
        errors: list[str] = []
        for import_id in self.import_ids:
            item = report.get(import_id)
            if isinstance(item, ImportStatus):
                statuses.append(item)
            elif item is None or is_transient(item):
                # Not seen in this check (left out of the answer, a retryable fail entry, Mimecast
                # unreachable): never taken for a success, asked again until the deadline.
                unseen[import_id] = str(item) if item is not None else "not in the poller's report"
            else:
                errors.append(str(item))
        if errors:
            return ImportWaitEvent.error("; ".join(dict.fromkeys(errors)))
        # Log an import's line when it changes, not at every poll: a long wait stays readable.
        changed = [s for s in statuses if shown.get(s.id) != s.summary()]
        log_statuses(self.log, changed)
        shown.update((s.id, s.summary()) for s in changed)
        if all_completed(statuses) and not unseen:
            return ImportWaitEvent.success(statuses)
        return self._timeout_event(statuses, unseen) if final else None

    @staticmethod
    def _timeout_event(statuses: list[ImportStatus], unseen: Mapping[str, str]) -> ImportWaitEvent:
        waiting = [s.summary() for s in statuses if not s.state.is_terminal]
        by_reason: dict[str, list[str]] = {}
        for import_id, reason in unseen.items():
            by_reason.setdefault(reason, []).append(import_id)
        waiting += [
            f"import{'s' if len(ids) > 1 else ''} {', '.join(ids)} not seen in the last check ({reason})"
            for reason, ids in by_reason.items()
        ]
        return ImportWaitEvent.timeout(
            f"Timed out waiting for Mimecast imports to complete: {'; '.join(waiting)}", statuses
        )


def _seconds(name: str, value: Any) -> float:
    """A trigger argument in seconds, checked: a NaN or a string would make the wait endless or crash it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise MimecastConfigurationError(
            f"The Mimecast trigger's {name} is {value!r}; it must be a finite, non-negative number of seconds"
        )
    return float(value)


#: Where the triggerer finds the trigger: fixed, since deferred tasks carry it.
TRIGGER_CLASSPATH = f"{MimecastImportStatusTrigger.__module__}.{MimecastImportStatusTrigger.__qualname__}"


def trigger_kwargs(
    *,
    import_ids: list[str],
    mimecast_conn_id: str,
    poll_interval: float,
    end_time: float | None,
    hook_params: dict[str, Any],
    end_rules: EndRules | None = None,
    timeout: float | None = None,
    import_id: Any = None,
) -> dict[str, Any]:
    """The trigger's kwargs, as deferred tasks carry them: the one place that builds them, for
    :meth:`MimecastImportStatusTrigger.serialize`, a task that defers, and a task that starts in the
    triggerer. The kwargs after ``hook_params`` appear only when used, so that a trigger without them
    serializes as releases before them did; ``end_rules`` (``end_from_trigger``) only those not at their
    default.

    :param end_rules: the task's end rules when it ends in the triggerer (``end_from_trigger``), else None.
    :param timeout: with ``start_from_trigger``: the deadline in seconds from when the trigger starts.
    :param import_id: with ``start_from_trigger``: the task's ``import_id``, read instead of ``import_ids``.

    The other parameters are the trigger's own (:class:`MimecastImportStatusTrigger`).
    """
    kwargs: dict[str, Any] = {
        "import_ids": import_ids,
        "mimecast_conn_id": mimecast_conn_id,
        "poll_interval": poll_interval,
        "end_time": end_time,
        "hook_params": hook_params,
    }
    if end_rules is not None:
        kwargs["end_from_trigger"] = True
        kwargs.update(end_rules.as_kwargs())
    if timeout is not None:
        kwargs["timeout"] = timeout
    if import_id is not None:
        kwargs["import_id"] = import_id
    return kwargs
