"""Turning an import source into the file Mimecast receives, checked before upload.

Only :func:`load_upload` touches storage (to read a path); everything else works on bytes.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.import_file import (
    CHECKPOINT,
    NAME,
    RowProblem,
    check_csv,
    check_invalid_rows,
    check_xlsx,
)

#: The file types import-users accepts, with the content type each is sent as.
CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xls": "application/vnd.ms-excel",
}
# Leading bytes of real spreadsheet files: xlsx is a ZIP archive, xls an OLE2 compound file.
_MAGIC = {"xlsx": b"PK\x03\x04", "xls": b"\xd0\xcf\x11\xe0"}
_BLANK = re.compile(rb"\s*")
_PASSWORD = "password"


@dataclass(frozen=True)
class Upload:
    """A file ready for import-users, and what its check found. ``name`` is for messages only.

    :param users: the user rows sent; None for an xls file, whose rows are not read.
    :param dropped: invalid rows cut out before upload (``invalid_rows="drop"``).
    :param dropped_rows: the first of those, with their line (or row) and the address's problem.
    :param unit: what the numbers of ``dropped_rows`` count: ``line`` of a CSV file, or ``row``.
    """

    content: bytes
    file_type: str
    name: str
    users: int | None = None
    dropped: int = 0
    dropped_rows: tuple[RowProblem, ...] = ()
    unit: str = "line"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.file_type]

    def rows_report(self) -> dict[str, Any]:
        """How many user rows are sent and which were dropped, bounded in size (for the log and XCom)."""
        return {
            "sent": self.users,
            "dropped": self.dropped,
            "dropped_rows": [
                {self.unit: problem.line, "email": problem.address[:100], "problem": problem.problem}
                for problem in self.dropped_rows
            ],
        }

    def __repr__(self) -> str:
        return f"Upload(name={self.name!r}, file_type={self.file_type!r}, size={len(self.content)})"


def resolve_file_type(file_type: str | None, name: str | None) -> str:
    """The given file type, else the one the file name's suffix says; refuses anything but csv/xlsx/xls."""
    allowed = ", ".join(CONTENT_TYPES)
    if file_type is not None:
        if not isinstance(file_type, str):
            raise MimecastConfigurationError(
                f"file_type is {type(file_type).__name__} {file_type!r}; use one of {allowed}"
            )
        chosen = file_type.strip().lower().lstrip(".")
        if chosen not in CONTENT_TYPES:
            raise MimecastConfigurationError(
                f"file_type {file_type!r} is not supported; use one of {allowed}"
            )
        return chosen
    if name is None:
        return "csv"
    suffix = PurePath(name).suffix.lower().lstrip(".")
    if suffix not in CONTENT_TYPES:
        raise MimecastConfigurationError(
            f"source {name!r} has no {allowed} suffix: rename it or pass file_type explicitly"
        )
    return suffix


def _header(keys: list[Any]) -> list[Any]:
    """The CSV header of rows with these keys: email, name (and password) first, as Mimecast reads them."""
    if CHECKPOINT not in keys:
        near = next(
            (k for k in keys if isinstance(k, str) and "mail" in re.sub("[^a-z]", "", k.lower())), None
        )
        if near is not None:
            raise MimecastConfigurationError(
                f"source rows have the key {near!r}, but Mimecast's import reads each user's address from the "
                "column headed exactly 'email' (lower case): rename the key to 'email'"
            )
        raise MimecastConfigurationError(
            f"source rows have no 'email' key (their keys: {keys[:10]}): Mimecast's import needs 'email' "
            "(the user's primary address) and 'name' (the display name)"
        )
    if NAME not in keys:
        raise MimecastConfigurationError(
            f"source rows have no 'name' key (their keys: {keys[:10]}): Mimecast's import needs the column "
            "'name' (lower case, the display name) directly right of 'email'"
        )
    front = [CHECKPOINT, NAME, *([_PASSWORD] if _PASSWORD in keys else [])]
    return front + [key for key in keys if key not in front]


def rows_to_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Write rows (dicts) as CSV. The header comes from the first row's keys, which must include ``email``
    and ``name``: those two (and ``password``) are written first, in the order Mimecast reads them.
    """
    # Encoded as it is written: no str copy of the whole CSV next to its bytes.
    buffer = io.BytesIO()
    text = io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=True)
    writer: csv.DictWriter[str] | None = None
    number = 0
    try:
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, Mapping):
                raise MimecastConfigurationError(
                    f"source row {number} is {type(row).__name__}; rows must be dicts of column name to value"
                )
            if writer is None:
                writer = csv.DictWriter(text, fieldnames=_header(list(row)), lineterminator="\n")
                writer.writeheader()
            unknown = [key for key in row if key not in writer.fieldnames]
            if unknown:
                raise MimecastConfigurationError(
                    f"source row {number} has columns {unknown} that the first row (the header) lacks"
                )
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
        text.flush()
    except UnicodeEncodeError:
        raise MimecastConfigurationError(
            f"source row {number} has text that cannot be written as UTF-8 (a lone surrogate, often from "
            "decoding a file with errors='surrogateescape'): clean the value first"
        ) from None
    content = buffer.getvalue()
    text.detach()
    return content


def prepare_upload(
    content: bytes,
    *,
    file_type: str | None,
    name: str | None,
    invalid_rows: str = "fail",
    from_rows: bool = False,
) -> Upload:
    """Check the bytes of an import file, every row of a CSV or XLSX included, and return what to send.

    :param invalid_rows: ``fail`` refuses a file with invalid user rows; ``drop`` cuts them out of a CSV.
    :param from_rows: the CSV was written from row dicts (rows are reported by number, not by line).
    """
    invalid_rows = check_invalid_rows(invalid_rows)
    label = name or ("<rows>" if from_rows else "<bytes>")
    kind = resolve_file_type(file_type, name)
    match = _BLANK.match(content)  # stops at the first non-blank byte: no stripped copy of the file
    if match is None or match.end() == len(content):
        raise MimecastConfigurationError(
            f"source {label!r} is empty; Mimecast needs at least a header and one user"
        )
    if kind != "csv" and not content.startswith(_MAGIC[kind]):
        raise MimecastConfigurationError(
            f"source {label!r} is not an {kind} file (its first bytes do not match); check file_type"
        )
    if kind == "csv":
        content, check = check_csv(content, label, invalid_rows=invalid_rows, from_rows=from_rows)
    elif kind == "xlsx":
        check = check_xlsx(content, label, invalid_rows=invalid_rows)
    else:
        if invalid_rows == "drop":
            raise MimecastConfigurationError(
                f"source {label!r} is an xls file, whose rows are not read before upload, so invalid rows "
                "cannot be dropped: save it as CSV or XLSX, or pass invalid_rows='fail'"
            )
        return Upload(content=content, file_type=kind, name=label)
    return Upload(
        content=content,
        file_type=kind,
        name=label,
        users=check.users,
        dropped=check.invalid,
        dropped_rows=check.problems,
        unit="row" if from_rows or kind == "xlsx" else "line",
    )


def _read_local(path: str) -> bytes:
    """Read a local regular file. Opened without blocking and checked on the open descriptor, so a FIFO or
    device is refused (never read until its writer closes) and a file swapped after a check cannot slip by.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise MimecastConfigurationError(f"source file {path!r} does not exist") from None
    except IsADirectoryError:
        raise MimecastConfigurationError(f"source {path!r} is a directory; pass the file to import") from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise MimecastConfigurationError(f"source file {path!r} cannot be opened ({reason})") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise MimecastConfigurationError(f"source {path!r} is a directory; pass the file to import")
        if not stat.S_ISREG(mode):
            raise MimecastConfigurationError(
                f"source {path!r} is not a regular file (a FIFO, socket or device): write the data to a file "
                "first, or pass bytes or rows"
            )
        with os.fdopen(os.dup(descriptor), "rb", buffering=0) as file:
            return file.readall()
    except OSError as error:
        raise MimecastConfigurationError(
            f"source file {path!r} could not be read ({error.strerror or error})"
        ) from None
    finally:
        os.close(descriptor)


def _read_object(path: Any) -> bytes:
    """Read an ``ObjectStoragePath`` or other object with ``read_bytes()``, mapping storage errors."""
    shown = str(path)
    try:
        if hasattr(path, "exists") and not path.exists():
            raise MimecastConfigurationError(f"source file {shown!r} does not exist")
        if hasattr(path, "is_dir") and path.is_dir():
            raise MimecastConfigurationError(f"source {shown!r} is a directory; pass the file to import")
        if hasattr(path, "is_file") and not path.is_file():
            raise MimecastConfigurationError(
                f"source {shown!r} is not a regular file (a FIFO, socket or device): write the data to a file "
                "first, or pass bytes or rows"
            )
        content = path.read_bytes()
    except FileNotFoundError:
        # Gone between the check and the read.
        raise MimecastConfigurationError(f"source file {shown!r} does not exist (it vanished)") from None
    except (OSError, ValueError) as error:
        raise MimecastConfigurationError(
            f"source file {shown!r} could not be read ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(content, bytes | bytearray):
        raise MimecastConfigurationError(
            f"source {shown!r} returned {type(content).__name__} from read_bytes(), not bytes"
        )
    return bytes(content)


def _is_local(source: Any) -> bool:
    if isinstance(source, str):
        return True
    if not isinstance(source, os.PathLike):
        return False
    # pathlib's own classes are local; ObjectStoragePath (universal_pathlib) subclasses them but is not.
    return not hasattr(source, "read_bytes") or (
        isinstance(source, PurePath) and type(source).__module__.split(".")[0] == "pathlib"
    )


def load_upload(source: Any, *, file_type: str | None = None, invalid_rows: str = "fail") -> Upload:
    """Read ``source`` and check it for upload, every row included (docs/importing.rst).

    :param source: a local path (``str`` or ``os.PathLike``), an ``ObjectStoragePath`` or any object with
        ``read_bytes()``, raw ``bytes``, or rows (an iterable of dicts) written as CSV.
    :param file_type: ``csv``, ``xlsx`` or ``xls``; taken from the path's suffix when None.
    :param invalid_rows: what a user row with an address Mimecast would refuse does: ``fail`` (the
        default) refuses the file, ``drop`` leaves the row out of the CSV sent.
    """
    invalid_rows = check_invalid_rows(invalid_rows)
    if isinstance(source, bytes | bytearray):
        return prepare_upload(bytes(source), file_type=file_type, name=None, invalid_rows=invalid_rows)
    if _is_local(source):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not path.strip():
            raise MimecastConfigurationError("source is an empty string; pass a file path, bytes or rows")
        return prepare_upload(_read_local(path), file_type=file_type, name=path, invalid_rows=invalid_rows)
    if hasattr(source, "read_bytes"):  # ObjectStoragePath and other fsspec-backed paths
        return prepare_upload(
            _read_object(source), file_type=file_type, name=str(source), invalid_rows=invalid_rows
        )
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise MimecastConfigurationError(
            f"source is {type(source).__name__}; pass a file path, an ObjectStoragePath, bytes, or a list of "
            "row dicts"
        )
    if file_type not in (None, "csv"):
        raise MimecastConfigurationError(f"rows are written as CSV; file_type {file_type!r} does not apply")
    return prepare_upload(
        rows_to_csv(source), file_type="csv", name=None, invalid_rows=invalid_rows, from_rows=True
    )
