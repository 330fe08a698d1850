"""Reading get-import-status answers: which status (or error) belongs to which asked ID, and the status
check of several imports that asks again for the IDs an answer left out. Pure, no I/O.

An answer is not guaranteed to hold every ID asked for, nor only those (see the API notes in the docs):
an ID it leaves out is *missing* (never a success that was not seen), one it adds is ignored, and an ID it
reports twice with different contents counts as missing too, since neither report can be trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
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
from airflow_provider_mimecast.status import ImportStatus, normalize_import_ids


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


def status_request_data(ids: Iterable[str]) -> list[dict[str, str]]:
    """The ``data`` of a get-import-status request for ``ids``.

    :param ids: normalized import IDs.
    """
    return [{"id": i} for i in ids]


class StatusCheck:
    """One status check of several imports, free of I/O: :meth:`batches` names the IDs of each request
    (``batch_size`` at most), :meth:`read` takes each answer, :meth:`statuses` gives the result.

    IDs an answer left out are asked again once, alone; still missing, they raise
    :class:`~airflow_provider_mimecast.errors.MimecastMissingImportsError`. IDs it carried unasked are
    ignored. The caller sends the requests, sync or async::

        check = StatusCheck(import_ids, batch_size, log=log)
        for batch in check.batches():
            check.read(batch, hook.call(GET_IMPORT_STATUS, status_request_data(batch)))
        return check.statuses()

    :param import_ids: one import ID or a sequence of them.
    :param batch_size: the most IDs in one request.
    :param log: where answers that do not match the question are reported.
    """

    def __init__(self, import_ids: str | Sequence[str], batch_size: int, *, log: Any) -> None:
        self.ids = normalize_import_ids(import_ids if isinstance(import_ids, str) else list(import_ids))
        self.batch_size = batch_size
        self.log = log
        self._seen: dict[str, ImportStatus] = {}
        self._missing: list[str] = []

    def batches(self) -> Iterator[list[str]]:
        """The IDs of each request, in order: every ID once, then once more those the answers left out.
        Each answer must be :meth:`read` before the next batch is asked for."""
        asking = self.ids
        for again in (False, True):
            self._missing = []
            for start in range(0, len(asking), self.batch_size):
                yield asking[start : start + self.batch_size]
            if not self._missing:
                return
            if not again:
                self.log.warning(
                    "Mimecast's get-import-status answer left out %s without a fail entry; asking again once",
                    self._missing,
                )
            asking = self._missing

    def read(self, batch: Sequence[str], document: Mapping[str, Any]) -> None:
        """Take the answer to the request for ``batch``.

        :param batch: the IDs the request asked for.
        :param document: the checked envelope.
        """
        answer = read_statuses(batch, document)
        if answer.unasked:
            self.log.warning(
                "Mimecast's get-import-status answer held imports it was not asked about, ignored: %s",
                list(answer.unasked),
            )
        self._seen.update(answer.statuses)
        self._missing += answer.missing

    def statuses(self) -> list[ImportStatus]:
        """The statuses in the order asked, once every batch was read."""
        if self._missing:
            raise MimecastMissingImportsError(
                f"get-import-status answered without the import(s) {self._missing} and without a fail entry "
                "for them, twice; their status is unknown",
                import_ids=tuple(self._missing),
                statuses=tuple(self._seen[i] for i in self.ids if i in self._seen),
            )
        return [self._seen[i] for i in self.ids]


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
