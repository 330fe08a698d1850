"""The rows of an XLSX workbook's first sheet, read with the standard library only.

An XLSX is a ZIP archive of XML parts: the workbook names its sheets, relationships map them to parts, and
text cells usually point into a shared-strings table. The sheet is parsed as a stream, one row at a time;
the shared strings are held in memory while it is read. Formulas are read by their cached values, dates as
the numbers Excel stores. Imports nothing from Airflow: the simulator reads uploads with it too.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from typing import IO
from xml.etree.ElementTree import Element, ParseError, iterparse

#: Excel's widest sheet: a cell reference beyond it is not a cell.
MAX_COLUMNS = 16384
_CELL_REFERENCE = re.compile(r"([A-Z]{1,3})([0-9]+)")


class XlsxError(ValueError):
    """The bytes are not a workbook whose first sheet can be read."""


def _local(tag: str) -> str:
    # Transitional and strict OOXML name the same elements in different namespaces.
    return tag.rpartition("}")[2]


def _attribute(element: Element, name: str) -> str | None:
    """An attribute by local name, whatever its namespace (``r:id`` is namespaced)."""
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def _parse(archive: zipfile.ZipFile, part: str) -> Iterator[tuple[str, Element]]:
    try:
        file: IO[bytes] = archive.open(part)
    except KeyError:
        raise XlsxError(f"the workbook has no part {part!r}") from None
    with file:
        try:
            yield from iterparse(file, events=("start", "end"))
        except (ParseError, zipfile.BadZipFile, EOFError, OSError) as error:
            raise XlsxError(f"part {part!r} cannot be read ({error})") from None


def _relationships(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """A part's relationships: ID -> (type, target part), targets resolved against the part's folder."""
    folder, base = posixpath.split(part)
    rels_part = posixpath.join(folder, "_rels", base + ".rels")
    if rels_part not in archive.NameToInfo:
        return {}
    found = {}
    for event, element in _parse(archive, rels_part):
        if event == "end" and _local(element.tag) == "Relationship":
            target = element.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            found[element.get("Id", "")] = (element.get("Type", ""), posixpath.normpath(target))
    return found


def _text(element: Element) -> str:
    """The text of a string item or inline string: its ``t`` runs, phonetic hints (``rPh``) left out."""
    parts: list[str] = []

    def collect(node: Element) -> None:
        for child in node:
            name = _local(child.tag)
            if name == "t":
                parts.append(child.text or "")
            elif name == "r":
                collect(child)

    collect(element)
    return "".join(parts)


def _shared_strings(archive: zipfile.ZipFile, part: str | None) -> list[str]:
    if part is None:
        return []
    strings: list[str] = []
    parent: Element | None = None
    for event, element in _parse(archive, part):
        name = _local(element.tag)
        if event == "start" and name == "sst":
            parent = element
        elif event == "end" and name == "si":
            strings.append(_text(element))
            if parent is not None:
                parent.clear()
    return strings


def _first_sheet(archive: zipfile.ZipFile) -> tuple[str, str | None]:
    """The first sheet's part and the shared-strings part (None if the workbook has none)."""
    package = _relationships(archive, "")
    workbook = next(
        (target for kind, target in package.values() if kind.endswith("/officeDocument")), "xl/workbook.xml"
    )
    relations = _relationships(archive, workbook)
    sheet_id = None
    for event, element in _parse(archive, workbook):
        if event == "end" and _local(element.tag) == "sheet":
            sheet_id = _attribute(element, "id")
            break
    if sheet_id not in relations:
        raise XlsxError("the workbook names no sheet")
    strings = next((target for kind, target in relations.values() if kind.endswith("/sharedStrings")), None)
    return relations[sheet_id][1], strings


def _cell_value(cell: Element, strings: list[str]) -> str:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = next((child for child in cell if _local(child.tag) == "is"), None)
        return "" if inline is None else _text(inline)
    value = next((child.text or "" for child in cell if _local(child.tag) == "v"), "")
    if kind != "s":
        return value
    try:
        return strings[int(value)]
    except (ValueError, IndexError):
        raise XlsxError(
            f"cell {cell.get('r', '?')} points to shared string {value!r}, which does not exist"
        ) from None


def _column(reference: str | None, previous: int) -> int:
    """The 0-based column of a cell reference (``C7`` is 2); without one, the column after the last."""
    if reference is None:
        return previous + 1
    match = _CELL_REFERENCE.fullmatch(reference)
    if match is None:
        raise XlsxError(f"{reference!r} is not a cell reference")
    column = 0
    for letter in match.group(1):
        column = column * 26 + ord(letter) - ord("A") + 1
    if column > MAX_COLUMNS:
        raise XlsxError(f"cell {reference} is beyond Excel's last column")
    return column - 1


def first_sheet_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    """Yield each non-empty row of the first sheet as (1-based row number, cell texts from column A).

    Missing cells are empty strings. Raises :class:`XlsxError` for bytes that are not such a workbook.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise XlsxError(f"it is not a ZIP archive ({error})") from None
    with archive:
        sheet, strings_part = _first_sheet(archive)
        strings = _shared_strings(archive, strings_part)
        holder: Element | None = None
        number = 0
        for event, element in _parse(archive, sheet):
            name = _local(element.tag)
            if event == "start":
                if name == "sheetData":
                    holder = element
                continue
            if name != "row":
                continue
            try:
                number = int(element.get("r") or number + 1)
            except ValueError:
                raise XlsxError(f"a row after row {number} has the number {element.get('r')!r}") from None
            cells: list[str] = []
            column = -1
            for cell in element:
                if _local(cell.tag) != "c":
                    continue
                column = _column(cell.get("r"), column)
                if column < len(cells):
                    raise XlsxError(f"row {number} lists its cells out of order")
                cells.extend([""] * (column - len(cells)))
                cells.append(_cell_value(cell, strings))
            if holder is not None:
                holder.clear()  # parsed rows are not kept: memory stays flat however long the sheet
            yield number, cells
