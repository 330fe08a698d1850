"""Turning an import source into the file Mimecast receives, checked before upload.

Only :func:`load_upload` touches storage (to read a path); everything else works on bytes.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
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
_BOM = codecs.BOM_UTF8
# UTF-8 is validated a slice at a time, so that no decoded copy of the whole file is ever held.
_CHUNK = 1 << 20
_BLANK = re.compile(rb"\s*")


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


def rows_to_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Write rows (dicts) as CSV; the header comes from the first row's keys."""
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
                writer = csv.DictWriter(text, fieldnames=list(row), lineterminator="\n")
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


def _lines(content: bytes, newline: bytes) -> Iterator[str]:
    """The text lines of ``content``, decoded one at a time: the csv reader pulls only those it needs."""
    position = len(_BOM) if content.startswith(_BOM) else 0
    while position < len(content):
        end = content.find(newline, position)
        end = len(content) if end < 0 else end + 1
        yield content[position:end].decode("utf-8")
        position = end


def _check_utf8(content: bytes, name: str) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(content)
    start = 0
    try:
        for start in range(0, len(view), _CHUNK):
            decoder.decode(view[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, start + max(error.start, 0)) + 1
        raise MimecastConfigurationError(
            f"source {name!r} is not UTF-8 text (line {line}); save the CSV as UTF-8"
        ) from None


def _csv_problem(error: csv.Error, name: str) -> MimecastConfigurationError:
    text = str(error)
    if "new-line character" in text:
        return MimecastConfigurationError(
            f"source {name!r} has a carriage return (\\r) inside an unquoted value in its header or first "
            "row, or mixes line endings: save the CSV with one kind of line ending (LF or CRLF) and quote "
            "values that contain line breaks"
        )
    if "field larger than field limit" in text:
        return MimecastConfigurationError(
            f"source {name!r} has a value over {csv.field_size_limit() // 1024} KiB in its header or first "
            'row: usually a double quote (") that is never closed, which makes the rest of the file one '
            "value; check the quoting"
        )
    return MimecastConfigurationError(f"source {name!r} is not valid CSV ({text}); check the file")


def check_csv(content: bytes, name: str) -> bytes:
    """Check a CSV has a header and a data row, and return it ending with the newline Mimecast requires.

    Only the header and the first user row are parsed; the rest is checked to be UTF-8 a slice at a time, so
    memory stays near the file's size. A file with CR-only line endings (old Mac exports) is sent with LF
    line endings instead: that is how its rows were meant, and line-based readers such as Mimecast's would
    see one line.
    """
    _check_utf8(content, name)
    if b"\r" in content and b"\n" not in content:
        content = content.replace(b"\r", b"\n")
    # Only the header and the first user row are needed: stop there rather than parse the whole file.
    reader = csv.reader(_lines(content, b"\n"))
    try:
        found = len(list(itertools.islice((row for row in reader if any(c.strip() for c in row)), 2)))
    except csv.Error as error:
        raise _csv_problem(error, name) from None
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
    match = _BLANK.match(content)  # stops at the first non-blank byte: no stripped copy of the file
    if match is None or match.end() == len(content):
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


def load_upload(source: Any, *, file_type: str | None = None) -> Upload:
    """Read ``source`` and check it for upload.

    :param source: a local path (``str`` or ``os.PathLike``), an ``ObjectStoragePath`` or any object with
        ``read_bytes()``, raw ``bytes``, or rows (an iterable of dicts) written as CSV.
    :param file_type: ``csv``, ``xlsx`` or ``xls``; taken from the path's suffix when None.
    """
    if isinstance(source, bytes | bytearray):
        return prepare_upload(bytes(source), file_type=file_type, name=None)
    if _is_local(source):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not path.strip():
            raise MimecastConfigurationError("source is an empty string; pass a file path, bytes or rows")
        return prepare_upload(_read_local(path), file_type=file_type, name=path)
    if hasattr(source, "read_bytes"):  # ObjectStoragePath and other fsspec-backed paths
        return prepare_upload(_read_object(source), file_type=file_type, name=str(source))
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise MimecastConfigurationError(
            f"source is {type(source).__name__}; pass a file path, an ObjectStoragePath, bytes, or a list of "
            "row dicts"
        )
    if file_type not in (None, "csv"):
        raise MimecastConfigurationError(f"rows are written as CSV; file_type {file_type!r} does not apply")
    return prepare_upload(rows_to_csv(source), file_type="csv", name=None)
