"""Reading get-import-status answers: which status (or error) belongs to which asked ID. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_mimecast.envelope import envelope_data, parse_failures, scrub_failures
from airflow_provider_mimecast.errors import (
    FailureDetail,
    MimecastApiError,
    MimecastError,
    MimecastImportNotAnsweredError,
    MimecastInvalidResponseError,
)
from airflow_provider_mimecast.status import ImportStatus

PATH = "/api/user/get-import-status"


def _by_id(document: Mapping[str, Any]) -> dict[str, ImportStatus]:
    return {s.id: s for s in map(ImportStatus.from_api, envelope_data(document, path=PATH))}


def _missing(ids: Sequence[str]) -> MimecastInvalidResponseError:
    return MimecastImportNotAnsweredError(
        f"get-import-status answered without the import(s) {list(ids)} and without a fail entry for them"
    )


def statuses_in_order(ids: Sequence[str], document: Mapping[str, Any]) -> list[ImportStatus]:
    """The statuses of a successful answer, in the order ``ids`` asked for them.

    :param ids: the IDs the request asked for.
    :param document: the checked envelope (no ``fail`` entries).
    """
    by_id = _by_id(document)
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise _missing(missing)
    return [by_id[i] for i in ids]


def statuses_by_id(
    ids: Sequence[str], document: Mapping[str, Any], *, secrets: Iterable[str] = ()
) -> dict[str, ImportStatus | MimecastError]:
    """Each asked ID mapped to its status, or to the error that concerns it alone, so that one bad ID fails
    only the waits that hold it: the error of the ``fail`` entries that name it, or
    :class:`~airflow_provider_mimecast.errors.MimecastImportNotAnsweredError` when the answer left it out or
    answered it twice with different statuses (it was not seen). Items for IDs nobody asked about are
    ignored. A ``fail`` entry naming no asked ID concerns the whole request and is raised.

    :param ids: the IDs the request asked for.
    :param document: the envelope, ``fail`` entries included.
    :param secrets: values to redact from the fail entries.
    """
    asked = set(ids)
    seen: dict[str, ImportStatus] = {}
    conflicting: set[str] = set()
    for item in envelope_data(document, path=PATH):
        import_id = item.get("id")
        if isinstance(import_id, str) and import_id not in asked:
            continue  # not ours to report: never handed to a wait, however it reads
        status = ImportStatus.from_api(item)  # an item without a string ID is no answer at all: raised
        if seen.setdefault(status.id, status) != status:
            conflicting.add(status.id)
    failures: dict[str, list[FailureDetail]] = {}
    unattributed = []
    for failure in scrub_failures(parse_failures(document.get("fail")), secrets):
        if failure.import_id is not None and failure.import_id in asked:
            failures.setdefault(failure.import_id, []).append(failure)
        else:
            unattributed.append(failure)
    if unattributed:
        raise MimecastApiError(f"POST {PATH} answered with errors", failures=tuple(unattributed))
    results: dict[str, ImportStatus | MimecastError] = {}
    for import_id in ids:
        if import_id in failures:
            results[import_id] = MimecastApiError(
                f"POST {PATH} failed for an import", failures=tuple(failures[import_id])
            )
        elif import_id in conflicting:
            results[import_id] = MimecastImportNotAnsweredError(
                f"get-import-status answered import {import_id!r} more than once, with different statuses"
            )
        elif import_id in seen:
            results[import_id] = seen[import_id]
        else:
            results[import_id] = _missing([import_id])
    return results
