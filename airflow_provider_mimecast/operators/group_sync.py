"""The directory-sync side of :class:`~airflow_provider_mimecast.operators.import_users.MimecastImportUsersOperator`:
the plan before the upload and its deletion guard, ``dry_run`` and ``skip_if_unchanged``, and after a
completed import ``not_in_group`` and the removals of ``remove_missing`` (docs/importing.rst, "Syncing a
group"). The decisions are the pure :mod:`~airflow_provider_mimecast.sync_plan` and
:mod:`~airflow_provider_mimecast.sync_guard`; this module reads and writes through the hook and XCom.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_mimecast.errors import (
    MimecastAuthenticationError,
    MimecastConfigurationError,
    MimecastError,
    MimecastImportFailedError,
    MimecastSyncGuardError,
)
from airflow_provider_mimecast.group_members import GroupMember
from airflow_provider_mimecast.sync_guard import RemovalLimit, parse_max_removals, refusal
from airflow_provider_mimecast.sync_plan import (
    FileUsers,
    ImportPlan,
    address_key,
    file_users,
    not_in_group,
    not_in_group_report,
    plan_import,
)
from airflow_provider_mimecast.uploads import Upload

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_mimecast.hooks.mimecast import MimecastHook

T = TypeVar("T")
#: Addresses named in a failure's message.
SHOWN_IN_ERROR = 10


def check_sync_options(
    *,
    task_id: str,
    clear_group: bool,
    remove_missing: bool,
    wait_for_completion: bool,
    end_from_trigger: bool = False,
    dry_run: bool = False,
) -> None:
    """Refuse, when the DAG is parsed, options that cannot go together, and ``end_from_trigger``.

    :param end_from_trigger: the operator's ``end_from_trigger``, always refused when true: the task ends
        on a worker, so the argument is kept only to say so (clearer than Airflow's unknown-argument error).
    """
    where = f"MimecastImportUsersOperator {task_id!r}"
    if remove_missing and clear_group:
        raise MimecastConfigurationError(
            f"{where}: remove_missing=True and clear_group=True exclude each other: remove_missing imports "
            "without emptying the group and then removes the members the file lacks; pass one of them"
        )
    if remove_missing and not wait_for_completion and not dry_run:
        raise MimecastConfigurationError(
            f"{where}: remove_missing=True needs wait_for_completion=True: the members the file lacks are "
            "removed once the import completed (a dry_run plans them without it)"
        )
    if end_from_trigger:
        raise MimecastConfigurationError(
            f"{where}: end_from_trigger=True is not an option of this operator: its task always ends on a "
            "worker, since after a completed import it reads the group there (XCom not_in_group, and "
            "remove_missing's removals), which the triggerer does not do; without wait_for_completion there "
            "is no wait to end. Drop end_from_trigger (with wait_for_completion and deferrable, "
            "check_before_deferring=False still spares the worker's first check), or import without waiting "
            "and wait with MimecastImportStatusSensor(end_from_trigger=True)"
        )


class GroupSync:
    """One run's sync steps around the upload.

    :param hook: the operator's hook.
    :param group_id: the destination group's secure ID.
    :param group_name: the name the task gave, for messages.
    :param upload: the checked file.
    :param removes: the import removes members (``clear_group`` or ``remove_missing``).
    :param remove_missing: remove the members the file lacks once the import completed.
    :param max_removals: the rendered ``max_removals``.
    :param log: the task's logger.
    """

    def __init__(
        self,
        hook: MimecastHook,
        *,
        group_id: str,
        group_name: str | None,
        upload: Upload,
        removes: bool,
        remove_missing: bool,
        max_removals: Any,
        log: Any,
    ) -> None:
        self.hook = hook
        self.group_id = group_id
        self.group = f"{group_name!r} (id {group_id})" if group_name else repr(group_id)
        self.upload = upload
        self.removes = removes
        self.remove_missing = remove_missing
        self.limit: RemovalLimit | None = parse_max_removals(max_removals)  # refused before any request
        self.log = log
        self._users: FileUsers | None = None
        if remove_missing and upload.file_type == "xls":
            raise MimecastConfigurationError(
                f"remove_missing=True needs the rows of {upload.name!r} to know who stays, and an xls file's rows "
                "cannot be read: save it as xlsx or CSV"
            )

    @property
    def users(self) -> FileUsers:
        if self._users is None:
            self._users = file_users(self.upload)
        return self._users

    # -- before the upload --------------------------------------------------------------------------

    def before_upload(
        self, context: Context, *, dry_run: bool, skip_if_unchanged: bool
    ) -> dict[str, Any] | None:
        """Plan, guard, push XCom ``import_plan``; returns the task's result when nothing is to be uploaded
        (``dry_run``, or ``skip_if_unchanged`` with nothing to change), else None.

        :raises MimecastSyncGuardError: the import would remove more than ``max_removals`` allows, or the
            guard cannot read the group.
        """
        needed = [
            reason
            for reason, asked in (
                (
                    "the deletion guard (clear_group or remove_missing)",
                    self.removes and self.limit is not None,
                ),
                ("dry_run", dry_run),
                ("skip_if_unchanged", skip_if_unchanged),
            )
            if asked
        ]
        if self.removes and self.limit is None:
            self.log.warning(
                "max_removals=None: the deletion guard is off; this import may remove any number of the "
                "members of group %s",
                self.group,
            )
        plan = self._plan(needed)
        if plan is None:
            return None
        context["ti"].xcom_push(key="import_plan", value=plan.as_dict())
        self.log.info("Import plan: %s", plan.summary())
        message = refusal(plan, self.limit, group=self.group) if self.removes else None
        if dry_run:
            if message:
                self.log.warning("dry_run=True; a real run would be refused: %s", message)
            self.log.info("dry_run=True: nothing uploaded")
            return {**plan.as_dict(), "refused": message}
        if message:
            raise MimecastSyncGuardError(message)
        if skip_if_unchanged and not plan.changes:
            self.log.info(
                "skip_if_unchanged=True and the import would add, remove and rename no one in group %s: "
                "nothing uploaded",
                self.group,
            )
            return plan.as_dict()
        return None

    def _plan(self, needed: list[str]) -> ImportPlan | None:
        try:
            users = self.users  # before any request: an xls file's rows cannot be read
            members = self.hook.get_group_members(self.group_id)
            return plan_import(self.group_id, users, members, remove_missing=self.removes)
        except MimecastError as error:
            if not needed:
                self.log.warning("Could not plan the import (%s); importing without a plan", error)
                return None
            if _refused(error):
                raise MimecastSyncGuardError(
                    f"{' and '.join(needed)} must read the members of group {self.group}, and Mimecast refused: "
                    f"{error}. Nothing was sent: add that permission to the role of the API application's user"
                    + (", or pass max_removals=None to import without the guard" if self.removes else ""),
                    request_id=error.request_id,
                    path=error.path,
                ) from error
            raise

    # -- after a completed import -------------------------------------------------------------------

    def after_import(self, context: Context, finish: Callable[[], T]) -> T:
        """Run ``finish`` (what turns the completed wait into the task's result), then read the group: push
        XCom ``not_in_group`` and, with ``remove_missing``, remove the members the file lacks. A partial
        import that ``finish`` refuses (``fail_on_partial_import``) fails naming the users not in the group.
        """
        outcome = Outcome(finish)
        if self.upload.file_type == "xls":  # its rows cannot be read (remove_missing refused it earlier)
            self.log.warning("The import's file is xls, whose rows cannot be read: no not_in_group report")
            return outcome.replay()
        members = self._members_after(required=self.remove_missing)
        missing: list[str] = []
        if members is not None:
            missing = not_in_group(self.users, members)
            context["ti"].xcom_push(key="not_in_group", value=not_in_group_report(missing))
            if missing:
                self.log.warning(
                    "%d of the file's %d users are not in group %s after the import: %s",
                    len(missing),
                    len(self.users),
                    self.group,
                    _listed(missing),
                )
            if self.remove_missing:
                self._remove_leavers(context, members)
        if outcome.failed is not None:
            named = f"; not in group {self.group}: {_listed(missing)}" if missing else ""
            raise MimecastImportFailedError(f"{outcome.failed}{named}") from outcome.failed
        return outcome.result

    def _members_after(self, *, required: bool) -> list[GroupMember] | None:
        try:
            return self.hook.get_group_members(self.group_id)
        except MimecastError as error:
            if required:
                raise
            self.log.warning(
                "Could not read group %s after the import (%s): no not_in_group report", self.group, error
            )
            return None

    def _remove_leavers(self, context: Context, members: list[GroupMember]) -> None:
        """Remove the members the file lacks, as the group is now: an Airflow retry re-reads it and removes
        only what is still extra, so no removal is repeated or skipped wherever a try stopped.
        """
        users = self.users
        addresses = [m.address for m in members if m.address is not None]  # whole domains stay
        leavers = tuple(a for a in addresses if address_key(a) not in users)
        plan = ImportPlan(
            self.group_id, len(addresses), len(users), add=(), rename=(), unchanged=0, remove=leavers
        )
        message = refusal(plan, self.limit, group=self.group)
        if message:
            raise MimecastSyncGuardError(message.replace("This import would", "remove_missing would"))
        unresolved = []
        for address in leavers:
            failures = self.hook.remove_group_member(self.group_id, address)
            if failures:
                unresolved.append(address)
                self.log.warning(
                    "remove-group-member answered for %s: %s",
                    address,
                    "; ".join(f.describe() for f in failures),
                )
        if unresolved:
            # Mimecast does not document what removing a non-member answers: the group says who is gone.
            present = {
                address_key(m.address) for m in self.hook.get_group_members(self.group_id) if m.address
            }
            still = [a for a in unresolved if address_key(a) in present]
            if still:
                raise MimecastError(
                    f"remove_missing could not remove {len(still)} member(s) from group {self.group}: "
                    f"{_listed(still)}. A retry removes what is still extra"
                )
            self.log.info("%d leaver(s) were already gone from group %s", len(unresolved), self.group)
        removed = [a for a in leavers if a not in unresolved]
        self.log.info("remove_missing: removed %d member(s) from group %s", len(removed), self.group)
        context["ti"].xcom_push(key="removed", value=not_in_group_report(removed))


class Outcome:
    """What turning a completed wait into the task's result gave: the result, or the partial import that
    ``fail_on_partial_import`` refuses (read the group first, then raise it). Any other error raises at once.
    """

    def __init__(self, finish: Callable[[], Any]) -> None:
        self.result: Any = None
        self.failed: MimecastImportFailedError | None = None
        try:
            self.result = finish()
        except MimecastImportFailedError as error:
            self.failed = error

    def replay(self) -> Any:
        if self.failed is not None:
            raise self.failed
        return self.result


def _refused(error: MimecastError) -> bool:
    return isinstance(error, MimecastAuthenticationError) and error.http_status == 403


def _listed(addresses: list[str]) -> str:
    more = len(addresses) - SHOWN_IN_ERROR
    return ", ".join(addresses[:SHOWN_IN_ERROR]) + (f" and {more} more" if more > 0 else "")
