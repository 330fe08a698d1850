"""The rows of an import file (``file_rows.py``): a CSV read a line at a time, each row's byte range."""

from __future__ import annotations

import codecs

import pytest

from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.file_rows import Record, csv_records, without


def test_each_row_keeps_its_first_line_and_byte_range_and_a_bom_is_skipped():
    content = codecs.BOM_UTF8 + b'email,name\na@example.com,"Ann\nSmith"\nb@example.com,Bob\n'
    records = list(csv_records(content, "users.csv"))
    assert [(r.row, r.line, list(r.cells)) for r in records] == [
        (1, 1, ["email", "name"]),
        (2, 2, ["a@example.com", "Ann\nSmith"]),
        (3, 4, ["b@example.com", "Bob"]),
    ]
    assert [content[r.start : r.end] for r in records] == [
        b"email,name\n",
        b'a@example.com,"Ann\nSmith"\n',
        b"b@example.com,Bob\n",
    ]


def test_cut_ranges_leave_the_other_rows_byte_for_byte():
    content = b"email,name\na@x.com,A\nbad,B\nc@x.com,C\nworse,D\n"
    records = list(csv_records(content, "users.csv"))
    cut = [records[2].start, records[2].end, records[4].start, records[4].end]
    assert without(content, cut) == b"email,name\na@x.com,A\nc@x.com,C\n"
    assert without(content, []) == content


def test_a_missing_cell_reads_empty_and_a_row_of_blanks_is_blank():
    assert Record(row=1, line=1, cells=["a@x.com"]).cell(1) == ""
    assert Record(row=1, line=1, cells=[" ", ""]).blank
    assert not Record(row=1, line=1, cells=["", "x"]).blank


def test_text_that_is_not_utf8_is_refused_naming_its_line():
    with pytest.raises(MimecastConfigurationError, match=r"'users.csv' is not UTF-8 text \(line 2\)"):
        list(csv_records(b"email,name\n\xff@x.com,A\n", "users.csv"))
