"""Turning an import source into the file Mimecast receives, checked before upload.

Only :func:`load_upload` touches storage (to read a path); everything else works on bytes.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from airflow_provider_mimecast.errors import MimecastConfigurationError

#: The file types import-users accepts, with the content type each is sent as.
CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xls": "application/vnd.ms-excel",
}
# Leading bytes of real spreadsheet files: xlsx is a ZIP archive, xls an OLE2 compound file.
_MAGIC = {"xlsx": b"PK\x03\x04", "xls": b"\xd0\xcf\x11\xe0"}


@dataclass(frozen=True)
class Upload:
    """A file ready for import-users. ``name`` is for messages only."""

    content: bytes
    file_type: str
    name: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.file_type]

    def __repr__(self) -> str:
        return f"Upload(name={self.name!r}, file_type={self.file_type!r}, size={len(self.content)})"


def resolve_file_type(file_type: str | None, name: str | None) -> str:
    """The given file type, else the one the file name's suffix says; refuses anything but csv/xlsx/xls."""
    allowed = ", ".join(CONTENT_TYPES)
    if file_type is not None:
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


def rows_to_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Write rows (dicts) as CSV; the header comes from the first row's keys."""
    buffer = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise MimecastConfigurationError(
                f"source row {number} is {type(row).__name__}; rows must be dicts of column name to value"
            )
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        unknown = [key for key in row if key not in writer.fieldnames]
        if unknown:
            raise MimecastConfigurationError(
                f"source row {number} has columns {unknown} that the first row (the header) lacks"
            )
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue().encode("utf-8")


def check_csv(content: bytes, name: str) -> bytes:
    """Check a CSV has a header and a data row, and return it ending with the newline Mimecast requires."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MimecastConfigurationError(
            f"source {name!r} is not UTF-8 text; save the CSV as UTF-8"
        ) from None
    # Only the header and the first user row are needed: stop there rather than parse the whole file.
    rows = itertools.islice((row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)), 2)
    found = len(list(rows))
    if found == 0:
        raise MimecastConfigurationError(
            f"source {name!r} has no header row; the first line must name the columns"
        )
    if found == 1:
        raise MimecastConfigurationError(f"source {name!r} has a header but no user rows")
    return content if content.endswith(b"\n") else content + b"\n"


def prepare_upload(content: bytes, *, file_type: str | None, name: str | None) -> Upload:
    """Check the bytes of an import file and fix the trailing newline of a CSV."""
    label = name or "<bytes>"
    kind = resolve_file_type(file_type, name)
    if not content.strip():
        raise MimecastConfigurationError(
            f"source {label!r} is empty; Mimecast needs at least a header and one user"
        )
    if kind == "csv":
        content = check_csv(content, label)
    elif not content.startswith(_MAGIC[kind]):
        raise MimecastConfigurationError(
            f"source {label!r} is not an {kind} file (its first bytes do not match); check file_type"
        )
    return Upload(content=content, file_type=kind, name=label)


def load_upload(source: Any, *, file_type: str | None = None) -> Upload:
    """Read ``source`` and check it for upload.

    :param source: a local path (``str`` or ``os.PathLike``), an ``ObjectStoragePath`` or any object with
        ``read_bytes()``, raw ``bytes``, or rows (an iterable of dicts) written as CSV.
    :param file_type: ``csv``, ``xlsx`` or ``xls``; taken from the path's suffix when None.
    """
    if isinstance(source, bytes | bytearray):
        return prepare_upload(bytes(source), file_type=file_type, name=None)
    path: Any = None
    if hasattr(source, "read_bytes"):  # pathlib.Path, ObjectStoragePath and other fsspec-backed paths
        path = source
    elif isinstance(source, str | os.PathLike):
        if not str(source).strip():
            raise MimecastConfigurationError("source is an empty string; pass a file path, bytes or rows")
        path = Path(source)
    if path is not None:
        if not path.exists():
            raise MimecastConfigurationError(f"source file {str(path)!r} does not exist")
        if path.is_dir():
            raise MimecastConfigurationError(f"source {str(path)!r} is a directory; pass the file to import")
        return prepare_upload(path.read_bytes(), file_type=file_type, name=str(path))
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise MimecastConfigurationError(
            f"source is {type(source).__name__}; pass a file path, an ObjectStoragePath, bytes, or a list of "
            "row dicts"
        )
    if file_type not in (None, "csv"):
        raise MimecastConfigurationError(f"rows are written as CSV; file_type {file_type!r} does not apply")
    return prepare_upload(rows_to_csv(source), file_type="csv", name=None)
