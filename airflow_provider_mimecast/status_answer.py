"""Reading get-import-status answers: which status (or error) belongs to which asked ID. Pure, no I/O.

An answer is not guaranteed to hold every ID asked for, nor only those (see the API notes in the docs):
an ID it leaves out is *missing* (never a success that was not seen), one it adds is ignored, and an ID it
reports twice with different contents counts as missing too, since neither report can be trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_mimecast.endpoints import GET_IMPORT_STATUS
from airflow_provider_mimecast.envelope import envelope_data, parse_failures
from airflow_provider_mimecast.errors import (
    FailureDetail,
    MimecastApiError,
    MimecastError,
    MimecastMissingImportsError,
)
from airflow_provider_mimecast.redaction import scrub_failures
from airflow_provider_mimecast.status import ImportStatus


@dataclass(frozen=True)
class StatusAnswer:
    """What one answer said about the IDs it was asked for.

    :param statuses: each asked ID the answer reported (once, or identically each time).
    :param missing: asked IDs it did not report, or reported with conflicting contents, in the order asked.
    :param unasked: IDs it reported without being asked (ignored), in the answer's order.
    """

    statuses: Mapping[str, ImportStatus]
    missing: tuple[str, ...]
    unasked: tuple[str, ...]


def read_statuses(ids: Sequence[str], document: Mapping[str, Any]) -> StatusAnswer:
    """Read the ``data`` of a get-import-status answer against the IDs asked.

    Items for unasked IDs are not parsed, so a malformed one cannot fail the asked ones.

    :param ids: the IDs the request asked for.
    :param document: the checked envelope.
    """
    asked = set(ids)
    items: dict[str, dict[str, Any]] = {}
    conflicting: set[str] = set()
    unasked: dict[str, None] = {}
    for item in envelope_data(document, path=GET_IMPORT_STATUS.path):
        import_id = item.get("id")
        if isinstance(import_id, str) and import_id and import_id not in asked:
            unasked[import_id] = None
            continue
        status = ImportStatus.from_api(item)  # raises for an item without an ID
        if status.id in items and items[status.id] != item:
            conflicting.add(status.id)
        items.setdefault(status.id, item)
    statuses = {i: ImportStatus.from_api(item) for i, item in items.items() if i not in conflicting}
    missing = tuple(i for i in ids if i not in statuses)
    return StatusAnswer(statuses=statuses, missing=missing, unasked=tuple(unasked))


def _missing(ids: Sequence[str]) -> MimecastMissingImportsError:
    return MimecastMissingImportsError(
        f"get-import-status answered without the import(s) {list(ids)} and without a fail entry for them",
        import_ids=tuple(ids),
    )


def statuses_by_id(
    ids: Sequence[str], document: Mapping[str, Any], *, secrets: Iterable[str] = ()
) -> dict[str, ImportStatus | MimecastError]:
    """Each asked ID mapped to its status, or to the error that concerns it alone, so that one bad ID fails
    only the waits that hold it: the error of the ``fail`` entries that name it, or a
    :class:`~airflow_provider_mimecast.errors.MimecastMissingImportsError` when the answer left it out or
    reported it twice with different contents (not seen: a wait asks again at its next poll). IDs nobody
    asked about are ignored. A ``fail`` entry naming no asked ID concerns the whole request and is raised.

    :param ids: the IDs the request asked for.
    :param document: the envelope, ``fail`` entries included.
    :param secrets: values to redact from the fail entries.
    """
    answer = read_statuses(ids, document)
    failures: dict[str, list[FailureDetail]] = {}
    unattributed = []
    for failure in scrub_failures(parse_failures(document.get("fail")), secrets):
        import_id = failure.import_id
        if import_id is not None and import_id in ids:
            failures.setdefault(import_id, []).append(failure)
        else:
            unattributed.append(failure)
    if unattributed:
        raise MimecastApiError(
            f"POST {GET_IMPORT_STATUS.path} answered with errors",
            failures=tuple(unattributed),
            path=GET_IMPORT_STATUS.path,
        )
    results: dict[str, ImportStatus | MimecastError] = {}
    for import_id in ids:
        if import_id in failures:
            results[import_id] = MimecastApiError(
                f"POST {GET_IMPORT_STATUS.path} failed for an import",
                failures=tuple(failures[import_id]),
                path=GET_IMPORT_STATUS.path,
            )
        elif import_id in answer.statuses:
            results[import_id] = answer.statuses[import_id]
        else:
            results[import_id] = _missing([import_id])
    return results
