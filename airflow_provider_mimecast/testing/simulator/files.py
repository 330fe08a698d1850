"""How the simulator reads an uploaded user file, as Mimecast's directory import does.

Mimecast looks for a checkpoint cell headed exactly ``email`` (lower case) within A1-M99, with ``name``
directly to its right; the rows below it are the users. Where Mimecast's processing of a file without one
fails (and emails the importer), the simulator refuses the upload with a validation error: a failed import's
status is not documented, and a refusal makes every test that sends such a file fail loudly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable

from airflow_provider_mimecast.xlsx import XlsxError, first_sheet_rows

from .responses import Response, v1_error

_QUOTES = "\"'"


def valid_email_row(row: dict[str, str]) -> bool:
    """The default import rule: a row is imported when its ``email`` value is one address, ``local@domain.tld``,
    without spaces or surrounding quotes.

    :param row: one user row, keyed by the header row's cells; ``email`` is the checkpoint column's value.
    """
    value = row.get("email", "")
    local, _, domain = value.partition("@")
    labels = domain.split(".")
    return (
        bool(local)
        and "@" not in domain
        and len(labels) >= 2
        and all(labels)
        and not any(character.isspace() for character in value)
        and value[0] not in _QUOTES
        and value[-1] not in _QUOTES
    )


def _refused(message: str) -> Response:
    return v1_error(400, "err_validation_checkpoint_not_found", message, field="file")


def read_users(rows: Iterable[tuple[int, list[str]]]) -> list[dict[str, str]] | Response:
    """The user rows of a sheet (row number, cells), keyed by the header row, or the 400 to answer."""
    header: list[str] | None = None
    column = 0
    users: list[dict[str, str]] = []
    for number, cells in rows:
        if header is None:
            if number > 99:
                break
            if "email" in cells[:13]:
                column = cells.index("email")
                if cells[column + 1 : column + 2] != ["name"]:
                    return _refused(
                        f"The cell right of the checkpoint cell 'email' must be headed 'name' (row {number})"
                    )
                header = cells
            continue
        if any(cell.strip() for cell in cells):
            user = dict(zip(header, cells, strict=False))
            user["email"] = cells[column] if column < len(cells) else ""
            users.append(user)
    if header is None:
        return _refused(
            "No checkpoint cell: a header 'email' (lower case) with 'name' to its right within A1-M99"
        )
    return users


def count_rows(
    body: bytes, file_type: str, accept_row: Callable[[dict[str, str]], bool]
) -> tuple[int, int, list[dict[str, str]]] | Response:
    """Return (total users, accepted users, the accepted user rows) of an uploaded file, or the 400 to answer.

    An xls file is a binary format the standard library cannot read: it counts as one good user, whose
    address is unknown (no row is returned for it, so it joins no group).
    """
    if file_type == "xls":
        return 1, 1, []
    if file_type == "csv":
        if not body.endswith(b"\n"):
            message = "A CSV file must end with a newline"
            return v1_error(400, "err_validation_csv_trailing_newline", message, field="file")
        try:
            rows = list(enumerate(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")), start=1))
        except (UnicodeDecodeError, csv.Error) as exc:
            return v1_error(
                400, "err_validation_invalid_file", f"The CSV file cannot be read: {exc}", field="file"
            )
        users = read_users(rows)
    else:
        try:
            users = read_users(list(first_sheet_rows(body)))
        except XlsxError as exc:
            return v1_error(
                400, "err_validation_invalid_file", f"The workbook cannot be read: {exc}", field="file"
            )
    if isinstance(users, Response):
        return users
    if not users:
        return v1_error(400, "err_validation_empty_file", "The file has no user rows", field="file")
    accepted = [user for user in users if accept_row(user)]
    return len(users), len(accepted), accepted
