"""The one event a :class:`MimecastImportStatusTrigger` fires: built and read only through :class:`ImportWaitEvent`.

The serialized form (a ``TriggerEvent`` payload) is part of the provider's contract with deferred tasks: a
task deferred by an older release resumes on a newer one, so it never changes shape:

- ``{"status": "success", "statuses": [<status dict>, ...]}``
- ``{"status": "error", "message": "..."}``
- ``{"status": "timeout", "message": "...", "statuses": [<status dict>, ...]}``
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_mimecast.errors import MimecastError, MimecastInvalidResponseError
from airflow_provider_mimecast.status import ImportStatus

#: Event ``status`` values.
EVENT_SUCCESS = "success"
EVENT_ERROR = "error"
EVENT_TIMEOUT = "timeout"


@dataclass(frozen=True)
class ImportWaitEvent:
    """How a wait in the triggerer ended: every import completed, an error, or its deadline.

    :param kind: ``success``, ``error`` or ``timeout``.
    :param message: what went wrong (error, timeout); empty on success.
    :param statuses: the imports' statuses (success: all of them, completed; timeout: those seen).
    """

    kind: str
    message: str = ""
    statuses: tuple[ImportStatus, ...] = ()

    @classmethod
    def success(cls, statuses: Sequence[ImportStatus]) -> ImportWaitEvent:
        return cls(EVENT_SUCCESS, statuses=tuple(statuses))

    @classmethod
    def error(cls, message: str) -> ImportWaitEvent:
        return cls(EVENT_ERROR, message=message)

    @classmethod
    def timeout(cls, message: str, statuses: Sequence[ImportStatus] = ()) -> ImportWaitEvent:
        return cls(EVENT_TIMEOUT, message=message, statuses=tuple(statuses))

    def to_event(self) -> dict[str, Any]:
        """The ``TriggerEvent`` payload, in the form every release reads."""
        if self.kind == EVENT_SUCCESS:
            return {"status": EVENT_SUCCESS, "statuses": [s.as_dict() for s in self.statuses]}
        if self.kind == EVENT_TIMEOUT:
            return {
                "status": EVENT_TIMEOUT,
                "message": self.message,
                "statuses": [s.as_dict() for s in self.statuses],
            }
        return {"status": EVENT_ERROR, "message": self.message}

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ImportWaitEvent:
        """Read a payload (from this release or an older one).

        A success without a list of status dicts raises
        :class:`~airflow_provider_mimecast.errors.MimecastInvalidResponseError`; a payload of no known kind
        reads as an error naming it.
        """
        kind = event.get("status")
        if kind == EVENT_SUCCESS:
            items = event.get("statuses")
            if not isinstance(items, list) or not items or not all(isinstance(i, Mapping) for i in items):
                raise MimecastInvalidResponseError(
                    "The Mimecast trigger's success event carries no list of import statuses "
                    f"(event keys: {sorted(map(str, event))})"
                )
            return cls.success([ImportStatus.from_api(item) for item in items])
        if kind == EVENT_TIMEOUT:
            message = str(event.get("message") or "Timed out waiting for the Mimecast import")
            return cls.timeout(message, _seen(event.get("statuses")))
        if event.get("message"):
            return cls.error(str(event["message"]))
        return cls.error(f"The Mimecast trigger sent an unexpected event: {dict(event)}")


def _seen(items: Any) -> list[ImportStatus]:
    """A timeout's statuses, for the record only: one that cannot be read is left out, never raised on
    (the timeout is what the task reports).
    """
    seen = []
    for item in items if isinstance(items, list) else ():
        try:
            seen.append(ImportStatus.from_api(item))
        except (MimecastError, TypeError, ValueError, AttributeError):
            continue
    return seen
