"""XLSX workbooks for the tests: real ones written by openpyxl, and hand-made ones for the rarer shapes."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

from openpyxl import Workbook


def xlsx(*sheets: Sequence[Sequence[object]], start_row: int = 1, start_column: int = 1) -> bytes:
    """A workbook written by openpyxl (text in shared strings), one sheet per list of rows, placed from the
    given cell on."""
    book = Workbook()
    book.remove(book.active)
    for number, rows in enumerate(sheets, start=1):
        sheet = book.create_sheet(f"Sheet{number}")
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    sheet.cell(row=start_row + r, column=start_column + c, value=value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def handmade_xlsx(sheet_data: str, shared_strings: Sequence[str] = (), *, strict: bool = False) -> bytes:
    """A minimal workbook whose first sheet's ``<sheetData>`` is ``sheet_data`` (inline strings, cells
    without references: what other writers produce); ``strict`` uses strict OOXML's namespaces."""
    if strict:
        main = "http://purl.oclc.org/ooxml/spreadsheetml/main"
        rel = "http://purl.oclc.org/ooxml/officeDocument/relationships"
    else:
        main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    parts = {
        "_rels/.rels": f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
        f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
        '<sheet name="Users" sheetId="1" r:id="rId7"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{package}">'
        f'<Relationship Id="rId7" Type="{rel}/worksheet" Target="worksheets/users.xml"/>'
        f'<Relationship Id="rId8" Type="{rel}/sharedStrings" Target="/xl/strings.xml"/></Relationships>',
        "xl/worksheets/users.xml": f'<worksheet xmlns="{main}"><sheetData>{sheet_data}</sheetData></worksheet>',
        "xl/strings.xml": f'<sst xmlns="{main}">'
        + "".join(f"<si><t>{text}</t></si>" for text in shared_strings)
        + "</sst>",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, '<?xml version="1.0" encoding="UTF-8"?>' + text)
    return buffer.getvalue()
