"""The stdlib XLSX reader: what real and hand-made workbooks hold, read one row at a time."""

from __future__ import annotations

import tracemalloc

import pytest

from airflow_provider_mimecast.xlsx import XlsxError, first_sheet_rows
from tests.workbooks import handmade_xlsx, xlsx


def test_a_workbook_written_by_openpyxl_is_read_with_its_shared_strings_numbers_and_gaps():
    workbook = xlsx(
        [["email", "name", "age"], ["ada@example.com", "Ada", 36], [None, "Grace", True]], start_row=2
    )
    assert list(first_sheet_rows(workbook)) == [
        (2, ["email", "name", "age"]),
        (3, ["ada@example.com", "Ada", "36"]),
        (4, ["", "Grace", "1"]),
    ]


def test_inline_strings_rich_text_and_cells_without_references():
    sheet = (
        '<row><c t="inlineStr"><is><t>email</t></is></c><c t="s"><v>0</v></c></row>'
        '<row r="5"><c r="C5" t="inlineStr"><is><r><t>ada@</t></r><r><t>example.com</t></r>'
        "<rPh><t>phonetic</t></rPh></is></c><c><v>7</v></c></row>"
    )
    assert list(first_sheet_rows(handmade_xlsx(sheet, ["name"]))) == [
        (1, ["email", "name"]),
        (5, ["", "", "ada@example.com", "7"]),
    ]


def test_strict_ooxml_namespaces_are_read_too():
    strict = handmade_xlsx('<row r="1"><c r="A1" t="s"><v>0</v></c></row>', ["email"], strict=True)
    assert list(first_sheet_rows(strict)) == [(1, ["email"])]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"PK\x03\x04 truncated", "not a ZIP archive"),
        (handmade_xlsx('<row><c r="A1" t="s"><v>x</v></c></row>', ["a"]), "shared string 'x'"),
        (handmade_xlsx('<row><c r="1A"/></row>'), "'1A' is not a cell reference"),
        (handmade_xlsx('<row><c r="ZZZZ1"/></row>'), "not a cell reference"),
        (handmade_xlsx('<row><c r="XFE1"/></row>'), "beyond Excel's last column"),
        (handmade_xlsx('<row r="two"/>'), "the number 'two'"),
    ],
)
def test_what_is_not_a_readable_sheet_raises_xlsx_error(content, reason):
    with pytest.raises(XlsxError, match=reason):
        list(first_sheet_rows(content))


def test_a_long_sheet_is_read_in_flat_memory():
    rows = 10_000
    sheet = "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>user{n}@example.com</t></is></c>'
        f'<c r="B{n}" t="inlineStr"><is><t>User number {n}</t></is></c></row>'
        for n in range(1, rows + 1)
    )
    workbook = handmade_xlsx(sheet)
    tracemalloc.start()
    try:
        count = sum(1 for _ in first_sheet_rows(workbook))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    # About 0.4 MB whatever the length (buffers); a reader that kept the 10,000 parsed rows' elements would
    # hold over 10 MB, and one that decompressed the sheet whole its 1.5 MB of XML.
    assert peak < 1_000_000 < len(sheet), f"peak {peak / 1e6:.2f} MB"
