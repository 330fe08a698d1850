"""The import status model: what ``/api/user/get-import-status`` reports, as plain data."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from airflow_provider_mimecast.errors import (
    MimecastConfigurationError,
    MimecastImportFailedError,
    MimecastInvalidResponseError,
)


class ImportState(str, Enum):
    """The documented states of a user import."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @classmethod
    def of(cls, status: ImportStatus) -> ImportState:
        """Return the state of ``status``; raise when Mimecast reported a state it does not document."""
        try:
            return cls(status.status)
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise MimecastImportFailedError(
                f"Import {status.id!r} has status {status.status!r}, which is not one of {known}; "
                "treating it as a failure rather than waiting for a state that may never come."
            ) from None


TERMINAL_STATES = frozenset({ImportState.COMPLETED})

# Mimecast's field name -> attribute name, in the documented order.
_FIELDS: dict[str, str] = {
    "id": "id",
    "status": "status",
    "importer": "importer",
    "notifyEmailAddress": "notify_email_address",
    "created": "created",
    "totalUsers": "total_users",
    "successfulImportedUsers": "successful_imported_users",
    "clearGroup": "clear_group",
    "allowAddressMigration": "allow_address_migration",
    "sourceFile": "source_file",
    "reportFile": "report_file",
}


def _parse_created(value: Any, import_id: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MimecastInvalidResponseError(
            f"Import {import_id!r}: 'created' is {value!r}, not an ISO 8601 string"
        )
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Mimecast writes offsets as +0000; fromisoformat wants +00:00 before Python 3.11.
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise MimecastInvalidResponseError(
            f"Import {import_id!r}: 'created' is {value!r}, not an ISO 8601 timestamp"
        ) from None


#: The largest count a JSON number carries exactly; anything larger is not a count of users.
MAX_COUNT = 2**53


def _optional_int(payload: Mapping[str, Any], name: str, import_id: str) -> int | None:
    """A whole-number count, or None. Negative counts are kept (and reported as impossible by the caller);
    fractions, non-finite and huge values are refused as not a count at all."""
    value = payload.get(name)
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and len(value) < 20:
        try:
            number = int(value)
        except ValueError:
            number = None
    if number is None or abs(number) > MAX_COUNT:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        raise MimecastInvalidResponseError(f"Import {import_id!r}: {name!r} is {shown}, not a count of users")
    return number


@dataclass(frozen=True)
class ImportStatus:
    """One user import as Mimecast reports it. Attribute names are snake_case; :meth:`as_dict` and
    :meth:`from_api` use Mimecast's own camelCase names. Fields Mimecast adds later are kept in ``extra``.
    """

    id: str
    status: str
    importer: str | None = None
    notify_email_address: str | None = None
    created: datetime | None = None
    total_users: int | None = None
    successful_imported_users: int | None = None
    clear_group: bool | None = None
    allow_address_migration: bool | None = None
    source_file: str | None = None
    report_file: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, payload: Mapping[str, Any]) -> ImportStatus:
        """Build from one ``data`` item of get-import-status."""
        import_id = payload.get("id")
        if not isinstance(import_id, str) or not import_id:
            raise MimecastInvalidResponseError(
                f"A get-import-status item has no string 'id' (keys: {sorted(payload)})"
            )
        status = payload.get("status")
        if not isinstance(status, str):
            raise MimecastInvalidResponseError(
                f"Import {import_id!r} has no string 'status' (got {status!r})"
            )
        return cls(
            id=import_id,
            status=status,
            importer=payload.get("importer"),
            notify_email_address=payload.get("notifyEmailAddress"),
            created=_parse_created(payload.get("created"), import_id),
            total_users=_optional_int(payload, "totalUsers", import_id),
            successful_imported_users=_optional_int(payload, "successfulImportedUsers", import_id),
            clear_group=payload.get("clearGroup"),
            allow_address_migration=payload.get("allowAddressMigration"),
            source_file=payload.get("sourceFile"),
            report_file=payload.get("reportFile"),
            extra={k: v for k, v in payload.items() if k not in _FIELDS},
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe dict under Mimecast's field names (``created`` as ISO 8601), unknown fields included."""
        result: dict[str, Any] = dict(self.extra)
        for api_name, attribute in _FIELDS.items():
            value = getattr(self, attribute)
            result[api_name] = value.isoformat() if isinstance(value, datetime) else value
        return result

    @property
    def state(self) -> ImportState:
        return ImportState.of(self)

    @property
    def is_partial(self) -> bool:
        """True when a completed import left some users out."""
        return (
            self.total_users is not None
            and self.successful_imported_users is not None
            and self.successful_imported_users < self.total_users
        )

    @property
    def impossible_counts(self) -> str | None:
        """Why the counts cannot be right (a negative count, more successful users than in total), or None."""
        total, successful = self.total_users, self.successful_imported_users
        if total is not None and total < 0:
            return f"totalUsers is negative ({total})"
        if successful is not None and successful < 0:
            return f"successfulImportedUsers is negative ({successful})"
        if total is not None and successful is not None and successful > total:
            return f"successfulImportedUsers ({successful}) is more than totalUsers ({total})"
        return None

    def summary(self) -> str:
        return f"import {self.id}: {self.status}, {self.successful_imported_users}/{self.total_users} users imported"


def all_completed(statuses: Sequence[ImportStatus]) -> bool:
    """True when every import is completed; raises :class:`MimecastImportFailedError` on an undocumented state."""
    return all(status.state.is_terminal for status in statuses)


#: What a template renders when the XCom it pulls does not exist (Airflow 3 renders None as "None").
_MISSING_VALUES = {"none", "null", "undefined"}
_MISSING_HINT = (
    "this is what a template such as \"{{ ti.xcom_pull(task_ids='start_import') }}\" renders when the "
    "upstream XCom is missing: check the upstream task's task_id and key, and that it ran and returned the "
    "import ID (or pass its XComArg, e.g. start_import.output)"
)
_RENDERED_LIST_HINT = (
    "it looks like a list rendered as text by a template: set render_template_as_native_obj=True on the "
    "DAG, or pass the upstream task's XComArg (e.g. start_import.output) instead of a template"
)


#: How Airflow prints the XComs of a mapped task (3.x, 2.11) when a template renders them as text.
_RENDERED_LAZY_SEQUENCE = re.compile(r"Lazy\w*Sequence\(")


def _check_id_text(text: str, where: str) -> None:
    if text.lower() in _MISSING_VALUES:
        raise MimecastConfigurationError(f"{where} is {text!r}: {_MISSING_HINT}")
    if (text[:1], text[-1:]) in (("[", "]"), ("(", ")")) or _RENDERED_LAZY_SEQUENCE.match(text):
        raise MimecastConfigurationError(f"{where} is {text!r}, not an import ID: {_RENDERED_LIST_HINT}")


def normalize_import_ids(import_id: Any, *, argument: str = "import_id") -> list[str]:
    """Validate one ID or a sequence of IDs and return them as a list, naming ``argument`` in every error.

    Any sequence is accepted (a list, a tuple, the lazy sequence Airflow hands over for a mapped task's
    XComs), read once, in order; a mapping, a set or bytes is not. Refuses, before any request, what a
    template renders from a missing XCom (``None``, ``"None"``, ``"null"``) and a list rendered as text
    (``"['a', 'b']"``, ``"LazyXComSequence([3 items])"``), each with the fix.

    :param import_id: one import ID or a sequence of them.
    :param argument: the argument's name, for messages.
    """
    if import_id is None:
        raise MimecastConfigurationError(f"{argument} is None: {_MISSING_HINT}")
    if isinstance(import_id, str):
        ids: list[Any] = [import_id]
    elif isinstance(import_id, Sequence) and not isinstance(import_id, bytes | bytearray):
        ids = list(import_id)
    else:
        native = (
            " (a template rendered with render_template_as_native_obj=True makes a number of an ID that "
            "looks like one: quote it, or pass the XComArg)"
            if isinstance(import_id, int | float) and not isinstance(import_id, bool)
            else ""
        )
        raise MimecastConfigurationError(
            f"{argument} must be an import ID string or a list of them, got {type(import_id).__name__}"
            + native
        )
    if not ids:
        raise MimecastConfigurationError(f"{argument} is empty: pass the ID returned by import-users")
    result: list[str] = []
    for position, value in enumerate(ids):
        if value is None:
            raise MimecastConfigurationError(f"{argument}[{position}] is None: {_MISSING_HINT}")
        if not isinstance(value, str):
            raise MimecastConfigurationError(
                f"{argument}[{position}] is {type(value).__name__} {value!r}; import IDs are strings"
            )
        if not value.strip():
            raise MimecastConfigurationError(
                f"{argument}[{position}] is blank: pass the ID returned by import-users "
                "(an empty template result usually means the upstream XCom was missing)"
            )
        _check_id_text(value.strip(), argument if isinstance(import_id, str) else f"{argument}[{position}]")
        if value.strip() in result:
            raise MimecastConfigurationError(f"{argument} lists {value.strip()!r} more than once")
        result.append(value.strip())
    return result
