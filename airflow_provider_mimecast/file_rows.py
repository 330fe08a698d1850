"""The rows of an import file (each a :class:`Record`), read without a decoded copy of the file: pure, no I/O.

A CSV is decoded one line at a time, and each row keeps its first line and byte range, so that the rows
:mod:`~airflow_provider_mimecast.import_file` finds invalid can be cut out of the bytes (:func:`without`).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from airflow_provider_mimecast.errors import MimecastConfigurationError

_BOM = codecs.BOM_UTF8


class Record(NamedTuple):
    """One row of an import file: its spreadsheet row number, where it is reported, and its cells.

    ``line`` is the CSV line the row starts on (the sheet row for an XLSX); ``start`` and ``end`` are its
    byte offsets in a CSV, so that a dropped row can be cut out.
    """

    row: int
    line: int
    cells: Sequence[str]
    start: int = 0
    end: int = 0

    def cell(self, column: int) -> str:
        return self.cells[column] if column < len(self.cells) else ""

    @property
    def blank(self) -> bool:
        return not any(cell.strip() for cell in self.cells)


class _Lines:
    """The text lines of a CSV, decoded one at a time, with the count so far and where the next starts."""

    def __init__(self, content: bytes, name: str) -> None:
        self.content = content
        self.name = name
        self.position = len(_BOM) if content.startswith(_BOM) else 0
        self.count = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        content, start = self.content, self.position
        if start >= len(content):
            raise StopIteration
        end = content.find(b"\n", start)
        self.position = len(content) if end < 0 else end + 1
        self.count += 1
        try:
            return content[start : self.position].decode("utf-8")
        except UnicodeDecodeError:
            raise MimecastConfigurationError(
                f"source {self.name!r} is not UTF-8 text (line {self.count}); save the CSV as UTF-8"
            ) from None


def _csv_problem(error: csv.Error, name: str, line: int) -> MimecastConfigurationError:
    text = str(error)
    if "new-line character" in text:
        return MimecastConfigurationError(
            f"source {name!r} has a carriage return (\\r) inside an unquoted value on line {line}, or mixes "
            "line endings: save the CSV with one kind of line ending (LF or CRLF) and quote values that "
            "contain line breaks"
        )
    if "field larger than field limit" in text:
        return MimecastConfigurationError(
            f"source {name!r} has a value over {csv.field_size_limit() // 1024} KiB by line {line}: usually "
            'a double quote (") that is never closed, which makes the rest of the file one value; check the '
            "quoting"
        )
    return MimecastConfigurationError(
        f"source {name!r} is not valid CSV on line {line} ({text}); check the file"
    )


def csv_records(content: bytes, name: str) -> Iterator[Record]:
    """The rows of a UTF-8 CSV (a byte-order mark is skipped), each with its first line and byte range."""
    lines = _Lines(content, name)
    reader = csv.reader(lines)
    row = 0
    while True:
        start, line = lines.position, lines.count + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _csv_problem(error, name, lines.count) from None
        row += 1
        yield Record(row=row, line=line, cells=cells, start=start, end=lines.position)


def without(content: bytes, cut: Sequence[int]) -> bytes:
    """``content`` without the byte ranges ``cut`` (start, end, start, end, ...: sorted, not overlapping)."""
    view = memoryview(content)
    kept, position = [], 0
    for index in range(0, len(cut), 2):
        kept.append(view[position : cut[index]])
        position = cut[index + 1]
    kept.append(view[position:])
    return b"".join(kept)
