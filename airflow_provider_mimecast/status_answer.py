"""Reading get-import-status answers: which status (or error) belongs to which asked ID. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_mimecast.envelope import envelope_data, parse_failures, scrub_failures
from airflow_provider_mimecast.errors import MimecastApiError, MimecastError, MimecastInvalidResponseError
from airflow_provider_mimecast.status import ImportStatus

PATH = "/api/user/get-import-status"


def _by_id(document: Mapping[str, Any]) -> dict[str, ImportStatus]:
    return {s.id: s for s in map(ImportStatus.from_api, envelope_data(document, path=PATH))}


def _missing(ids: Sequence[str]) -> MimecastInvalidResponseError:
    return MimecastInvalidResponseError(
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
    """Each asked ID mapped to its status, or to the error of the ``fail`` entry that names it, so that one
    bad ID fails only the waits that hold it. A ``fail`` entry naming no asked ID concerns the whole
    request and is raised, as is an ID the answer left out altogether.

    :param ids: the IDs the request asked for.
    :param document: the envelope, ``fail`` entries included.
    :param secrets: values to redact from the fail entries.
    """
    results: dict[str, ImportStatus | MimecastError] = dict(_by_id(document))
    unattributed = []
    for failure in scrub_failures(parse_failures(document.get("fail")), secrets):
        import_id = failure.import_id
        if import_id is not None and import_id in ids:
            results[import_id] = MimecastApiError(f"POST {PATH} failed for an import", failures=(failure,))
        else:
            unattributed.append(failure)
    if unattributed:
        raise MimecastApiError(f"POST {PATH} answered with errors", failures=tuple(unattributed))
    missing = [i for i in ids if i not in results]
    if missing:
        raise _missing(missing)
    return {i: results[i] for i in ids}
