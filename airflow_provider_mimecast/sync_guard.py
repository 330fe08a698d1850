"""The deletion guard: how many members an import may remove before it is refused. Pure, no I/O.

Directory-sync tools stop a sync that would delete too much, by default, until someone approves that one
run (Entra Connect: 500 deletions; Okta: 20% of the app's users; Grouper: 30% of groups of 200 or more).
Here the default refuses an import that removes more than 10 members *and* more than 10% of the group;
``max_removals`` sets a count or a fraction instead, and ``None`` turns the guard off. A file without user
rows never clears a group, whatever the limit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.sync_plan import ImportPlan

#: ``max_removals``'s default: the anchors below. Also accepted as text, e.g. from a template.
DEFAULT_MAX_REMOVALS = "default"
DEFAULT_COUNT = 10
DEFAULT_FRACTION = 0.1
#: Removed addresses named in the refusal.
SHOWN_IN_REFUSAL = 5

_WHOLE = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]*\.[0-9]+|[0-9]+\.[0-9]*")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]*)?)\s*%")


@dataclass(frozen=True)
class RemovalLimit:
    """The most members one import may remove: a count, a fraction of the group, or the default (more than
    both 10 members and 10% is refused).
    """

    count: int | None = None
    fraction: float | None = None

    @property
    def is_default(self) -> bool:
        return self.count is None and self.fraction is None

    def allowed(self, members: int) -> int:
        """The most removals allowed from a group of ``members``."""
        if self.count is not None:
            return self.count
        if self.fraction is not None:
            return math.floor(self.fraction * members)
        return max(DEFAULT_COUNT, math.floor(DEFAULT_FRACTION * members))

    def describe(self, members: int) -> str:
        if self.count is not None:
            return f"max_removals={self.count}"
        allowed = self.allowed(members)
        if self.fraction is not None:
            return f"max_removals={self.fraction:g} ({self.fraction:.0%} of {members} members: {allowed})"
        return (
            f"the default (more than {DEFAULT_COUNT} members and more than {DEFAULT_FRACTION:.0%} of the "
            f"group: {allowed} here)"
        )


def parse_max_removals(value: Any) -> RemovalLimit | None:
    """``max_removals`` as given or rendered: None (guard off), ``"default"``, a whole number of members
    (``200``, ``"200"``), or a fraction of the group from 0 to 1 (``0.2``, ``"0.2"``, ``"20%"``).

    :raises MimecastConfigurationError: anything else, naming the argument and the accepted forms.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == DEFAULT_MAX_REMOVALS:
            return RemovalLimit()
        if _WHOLE.fullmatch(text):
            return RemovalLimit(count=int(text))
        if _DECIMAL.fullmatch(text):
            return _from_number(float(text), value)
        percent = _PERCENT.fullmatch(text)
        if percent and float(percent.group(1)) <= 100:
            return RemovalLimit(fraction=float(percent.group(1)) / 100)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_number(value, value)
    raise _refused(value)


def _from_number(number: float, given: Any) -> RemovalLimit:
    if isinstance(number, int) and number >= 0:
        return RemovalLimit(count=number)
    if math.isfinite(number) and 0 <= number <= 1:
        return RemovalLimit(fraction=float(number))
    if math.isfinite(number) and number > 1 and number.is_integer():
        return RemovalLimit(count=int(number))
    raise _refused(given)


def _refused(value: Any) -> MimecastConfigurationError:
    hint = ""
    if isinstance(value, str) and value.strip().lower() in ("none", "null", ""):
        hint = (
            " (a template that rendered nothing: give it a fallback, e.g. "
            "\"{{ dag_run.conf.get('max_removals', 'default') }}\"; only the Python value None turns the guard "
            "off)"
        )
    return MimecastConfigurationError(
        f"max_removals is {value!r}{hint}: use 'default', a whole number of members such as 200 or '200', a "
        "fraction of the group from 0 to 1 such as 0.2, '0.2' or '20%', or None to turn the deletion guard off"
    )


def refusal(plan: ImportPlan, limit: RemovalLimit | None, *, group: str) -> str | None:
    """Why the guard refuses this import (the message of ``MimecastSyncGuardError``), or None to go on.

    :param plan: the plan, with ``remove`` computed.
    :param limit: the limit; None when the guard is off (a file without users is still refused).
    :param group: how messages name the group, e.g. ``'Directory Sync' (id eNo1...)``.
    """
    removals = plan.removals
    if removals == 0:
        return None
    removed = ", ".join((plan.remove or ())[:SHOWN_IN_REFUSAL])
    more = f" and {removals - SHOWN_IN_REFUSAL} more" if removals > SHOWN_IN_REFUSAL else ""
    what = (
        f"This import would remove {removals} of the {plan.group_members} members of group {group} "
        f"({removed}{more})"
    )
    if plan.file_users == 0:
        return f"{what}: its file has no user rows, which never clears a group. Nothing was sent"
    if limit is None:
        return None
    allowed = limit.allowed(plan.group_members)
    if removals <= allowed:
        return None
    return (
        f"{what}, more than the deletion guard allows: {limit.describe(plan.group_members)}. Nothing was sent. "
        "If the file is complete (not a truncated export, an empty query or the wrong sheet), approve this "
        f'run: run it with max_removals={removals} or more (templated, e.g. max_removals="{{{{ '
        "dag_run.conf.get('max_removals', 'default') }}\" and the run's conf "
        f'{{"max_removals": {removals}}}), or with a fraction such as 1.0; max_removals=None turns the guard off'
    )
