"""Mimecast's rules for an import file, checked on every row before upload: pure, no I/O.

Mimecast's directory import reads a *checkpoint cell* whose header is exactly ``email`` (lower case) within
A1-M99, with ``name`` directly to its right; the rows below it are the users, one primary address each in
the ``email`` column, without spaces or surrounding quotes (docs/importing.rst, "The file Mimecast reads").
A CSV is read one line at a time (:mod:`~airflow_provider_mimecast.file_rows`) and an XLSX one sheet row at
a time, so no decoded copy of a whole file is ever held.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.file_rows import Record, csv_records, without
from airflow_provider_mimecast.xlsx import XlsxError, first_sheet_rows

CHECKPOINT = "email"
NAME = "name"
#: The checkpoint cell must sit within A1-M99.
LAST_HEADER_ROW = 99
LAST_HEADER_COLUMN = 13
#: What ``invalid_rows`` can say: fail the task before upload, or upload the other rows without them.
INVALID_ROWS = ("fail", "drop")
#: Bad rows named in an error message, and kept (for the log and XCom) when dropped.
SHOWN_IN_MESSAGE = 5
KEPT_FOR_REPORT = 20

_QUOTES = "\"'\u2018\u2019\u201c\u201d"
# Local part: no separators or brackets (an apostrophe is fine: o'brien@), no leading, trailing or doubled
# dot. Domain: two or more labels of letters, digits and inner hyphens, in any script.
_LOCAL = r"(?!\.)(?!.*\.\.)[^\s@\"(),:;<>\[\]\\]{1,64}(?<!\.)"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_ADDRESS = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+{_LABEL}")
_SPACE = re.compile(r"\s")


def check_invalid_rows(invalid_rows: object) -> str:
    """Return ``invalid_rows`` if it is one of :data:`INVALID_ROWS`, else refuse it naming the choices."""
    if invalid_rows not in INVALID_ROWS:
        raise MimecastConfigurationError(
            f"invalid_rows is {invalid_rows!r}; use 'fail' (refuse the file before upload) or 'drop' "
            "(upload the other rows without the invalid ones)"
        )
    return str(invalid_rows)


def address_problem(value: str) -> str | None:
    """Why Mimecast would refuse ``value`` as a user's primary address, or None when it would not."""
    if len(value) <= 254 and _ADDRESS.fullmatch(value):
        return None
    stripped = value.strip()
    if not stripped:
        return "is empty"
    if stripped[0] in _QUOTES or stripped[-1] in _QUOTES:
        return "is surrounded by quotes"
    if _SPACE.search(value):
        return "contains spaces"
    return "is not an email address"


def column_name(index: int) -> str:
    """The spreadsheet letters of a 0-based column index: 0 is A, 12 is M, 26 is AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _shown(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


@dataclass(frozen=True)
class RowProblem:
    """A user row whose address Mimecast would refuse."""

    line: int
    address: str
    problem: str

    def describe(self, unit: str = "line") -> str:
        return f"{unit} {self.line}: {_shown(self.address)} {self.problem}"


@dataclass(frozen=True)
class RowCheck:
    """What the check of every user row found: the rows that pass, and the rows that do not.

    :param users: user rows that pass (blank rows are not users).
    :param invalid: user rows whose address Mimecast would refuse.
    :param problems: the first :data:`KEPT_FOR_REPORT` of those.
    :param cut: the byte ranges of the invalid CSV rows as start, end, start, end, ..., merged where
        adjacent (empty unless they are dropped): 16 bytes a range, however many rows are invalid.
    """

    users: int
    invalid: int
    problems: tuple[RowProblem, ...]
    cut: array[int] = field(default_factory=lambda: array("q"))


def _header_error(name: str, records_seen: list[Record], unit: str) -> MimecastConfigurationError:
    """What the rows searched hold instead of a checkpoint cell, and how to fix it."""
    rule = (
        "Mimecast's import reads the addresses from the column headed exactly 'email' (lower case), "
        "within cells A1-M99, with 'name' directly to its right"
    )
    for record in records_seen:
        for column, cell in enumerate(record.cells):
            where = f"cell {column_name(column)}{record.row}"
            if cell == CHECKPOINT:  # only beyond column M, or the search would have found it
                return MimecastConfigurationError(
                    f"source {name!r} has its 'email' header in {where}, right of column M: {rule}; move the "
                    "email and name columns to the left"
                )
            squashed = re.sub(r"[^a-z]", "", cell.lower())
            if "mail" in squashed and len(cell) <= 40:
                return MimecastConfigurationError(
                    f"source {name!r} has no header 'email': found the header {cell!r} in {where}. {rule}: "
                    f"rename that header to 'email'"
                )
    first = next((record for record in records_seen if not record.blank), None)
    if first is None:
        found = "no header at all"
    else:
        cells = ", ".join(_shown(cell, 30) for cell in first.cells[:6])
        more = ", ..." if len(first.cells) > 6 else ""
        found = f"{unit} {first.line} is {cells}{more}"
    return MimecastConfigurationError(
        f"source {name!r} has no header 'email' in its first {LAST_HEADER_ROW} rows ({found}). {rule}: add "
        "that header row above the users"
    )


def _name_error(name: str, header: Record, column: int) -> MimecastConfigurationError:
    right = f"{column_name(column + 1)}{header.row}"
    beside = header.cell(column + 1)
    found = f"{right} is {beside!r}" if beside else f"{right} is empty"
    elsewhere = next((i for i, cell in enumerate(header.cells) if cell == NAME), None)
    move = (
        f"; 'name' is in {column_name(elsewhere)}{header.row}: move that column next to email"
        if elsewhere is not None
        else ": add a 'name' column there (the users' display names)"
    )
    return MimecastConfigurationError(
        f"source {name!r} has its 'email' header in cell {column_name(column)}{header.row}, but {found}; "
        f"Mimecast needs the header 'name' (lower case) directly to the right of 'email'{move}"
    )


def locate_header(records: Iterator[Record], name: str, unit: str) -> tuple[Record, int]:
    """Read ``records`` up to the checkpoint cell; return its row and 0-based column.

    Refuses a file without one, saying what was found instead (``emailAddress``, ``Email``, ...).
    """
    seen: list[Record] = []
    for record in records:
        if record.row > LAST_HEADER_ROW:
            break
        row_cells = list(record.cells[:LAST_HEADER_COLUMN])
        if CHECKPOINT in row_cells:
            column = row_cells.index(CHECKPOINT)
            if record.cell(column + 1) != NAME:
                raise _name_error(name, record, column)
            return record, column
        seen.append(Record(record.row, record.line, list(record.cells[:64])))
    raise _header_error(name, seen, unit)


def check_rows(
    records: Iterator[Record], column: int, *, keep_cut: bool, first_user_row: int | None = None
) -> RowCheck:
    """Check the address of every user row below the header; ``keep_cut`` keeps the invalid rows' ranges.

    :param first_user_row: when given, rows are reported by their number among the users (this row is 1),
        not by line: for rows written from dicts, whose lines the DAG author never sees.
    """
    users = invalid = 0
    problems: list[RowProblem] = []
    cut = array("q")
    for record in records:
        address = record.cell(column)
        problem = address_problem(address)
        if problem is None:
            users += 1
            continue
        if record.blank:
            continue
        invalid += 1
        if len(problems) < KEPT_FOR_REPORT:
            number = record.line if first_user_row is None else record.row - first_user_row + 1
            problems.append(RowProblem(number, address, problem))
        if keep_cut:
            if cut and cut[-1] == record.start:
                cut[-1] = record.end
            else:
                cut.extend((record.start, record.end))
    return RowCheck(users=users, invalid=invalid, problems=tuple(problems), cut=cut)


def refuse_invalid_rows(name: str, check: RowCheck, *, unit: str, hint: str) -> MimecastConfigurationError:
    """The error for a file with invalid user rows: the first few by line, and the count of all."""
    shown = "; ".join(problem.describe(unit) for problem in check.problems[:SHOWN_IN_MESSAGE])
    more = f"; and {check.invalid - SHOWN_IN_MESSAGE} more" if check.invalid > SHOWN_IN_MESSAGE else ""
    total = check.users + check.invalid
    return MimecastConfigurationError(
        f"source {name!r} has {check.invalid} of {total} user rows whose email address Mimecast would refuse "
        f"({shown}{more}). {hint}"
    )


_DROP_HINT = "Correct those rows, or pass invalid_rows='drop' to upload the other rows without them"


def check_csv(
    content: bytes, name: str, *, invalid_rows: str = "fail", from_rows: bool = False
) -> tuple[bytes, RowCheck]:
    """Check a CSV's header and every user row; return the bytes to send and what the check found.

    The bytes end with the newline Mimecast requires. A file with CR-only line endings (old Mac exports) is
    sent with LF line endings: that is how its rows were meant, and a line-based reader such as Mimecast's
    would see one line. With ``invalid_rows="drop"`` the invalid rows are cut out of the bytes.

    :param from_rows: the CSV was written from row dicts: rows are reported by number, not by line.
    """
    if b"\r" in content and b"\n" not in content:
        content = content.replace(b"\r", b"\n")
    if not content.endswith(b"\n"):
        content += b"\n"
    unit = "row" if from_rows else "line"
    records = csv_records(content, name)
    header, column = locate_header(records, name, unit)
    check = check_rows(
        records, column, keep_cut=invalid_rows == "drop", first_user_row=header.row + 1 if from_rows else None
    )
    if check.users + check.invalid == 0:
        raise MimecastConfigurationError(
            f"source {name!r} has a header (line {header.line}) but no user rows below it"
        )
    if check.invalid and invalid_rows == "fail":
        raise refuse_invalid_rows(name, check, unit=unit, hint=_DROP_HINT)
    if check.invalid and not check.users:
        raise refuse_invalid_rows(name, check, unit=unit, hint="No valid row is left to import: correct them")
    return (without(content, check.cut) if check.cut else content), check


def check_xlsx(content: bytes, name: str, *, invalid_rows: str = "fail") -> RowCheck:
    """Check the first sheet of an XLSX workbook: its checkpoint cell and every user row's address.

    Rows cannot be cut out of a workbook without rewriting it, so invalid rows always fail.
    """
    try:
        records = (
            Record(row=number, line=number, cells=cells) for number, cells in first_sheet_rows(content)
        )
        header, column = locate_header(records, name, "row")
        check = check_rows(records, column, keep_cut=False)
    except XlsxError as error:
        raise MimecastConfigurationError(
            f"source {name!r} is not an xlsx workbook whose first sheet can be read: {error}. Save it again "
            "from your spreadsheet program, or as CSV"
        ) from None
    if check.users + check.invalid == 0:
        raise MimecastConfigurationError(
            f"source {name!r} has a header (row {header.row} of its first sheet) but no user rows below it"
        )
    if check.invalid:
        hint = (
            "Rows cannot be dropped from an xlsx file: correct them, or save the sheet as CSV to use "
            "invalid_rows='drop'"
            if invalid_rows == "drop"
            else "Correct those rows, or save the sheet as CSV and pass invalid_rows='drop' to upload the "
            "other rows without them"
        )
        raise refuse_invalid_rows(name, check, unit="row", hint=hint)
    return check
