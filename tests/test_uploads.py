"""Import sources and the checks made before any upload: pure, no network."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.uploads import load_upload, rows_to_csv

CSV = b"emailAddress,name\nada@example.com,Ada\n"


def test_rows_become_csv_with_the_first_rows_keys_as_header():
    rows = [{"emailAddress": "a@example.com", "name": "A, with comma"}, {"emailAddress": "b@example.com"}]
    assert rows_to_csv(rows) == b'emailAddress,name\na@example.com,"A, with comma"\nb@example.com,\n'


def test_a_row_with_an_unknown_column_is_refused():
    with pytest.raises(MimecastConfigurationError, match=r"row 2 has columns \['phone'\]"):
        rows_to_csv([{"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com", "phone": "1"}])


@pytest.mark.parametrize("kind", ["str", "path", "object_storage"])
def test_paths_are_read_and_typed_by_suffix(tmp_path: Path, kind: str):
    file = tmp_path / "users.csv"
    file.write_bytes(CSV)
    source = {"str": str(file), "path": file, "object_storage": ObjectStoragePath(f"file://{file}")}[kind]
    upload = load_upload(source)
    assert (upload.content, upload.file_type, upload.content_type) == (CSV, "csv", "text/csv")


def test_generators_of_rows_work():
    upload = load_upload({"emailAddress": f"u{i}@example.com"} for i in range(3))
    assert upload.content.count(b"\n") == 4 and upload.file_type == "csv"


def test_a_csv_without_trailing_newline_gets_one():
    assert load_upload(CSV.rstrip(b"\n")).content == CSV


def test_spreadsheets_are_sent_as_they_are(tmp_path: Path):
    xlsx = tmp_path / "users.XLSX"
    xlsx.write_bytes(b"PK\x03\x04rest-of-zip")
    upload = load_upload(xlsx)
    assert (upload.file_type, upload.content) == ("xlsx", b"PK\x03\x04rest-of-zip")


@pytest.mark.parametrize(
    ("source", "file_type", "message"),
    [
        ("/no/such/users.csv", None, "does not exist"),
        (b"", None, "is empty"),
        (b"   \n", None, "is empty"),
        (b"emailAddress,name\n", None, "header but no user rows"),
        (b"\n\n,\n", None, "is empty|no header"),
        (CSV, "pdf", "file_type 'pdf' is not supported"),
        (b"emailAddress\nx@example.com\n", "xlsx", "not an xlsx file"),
        ([{"emailAddress": "x@example.com"}], "xls", "rows are written as CSV"),
        ({"emailAddress": "x@example.com"}, None, "source is dict"),
        (42, None, "source is int"),
        ("", None, "empty string"),
        (b"\xff\xfe\x00bad", None, "not UTF-8"),
    ],
)
def test_bad_sources_are_refused_before_upload(source, file_type, message):
    with pytest.raises(MimecastConfigurationError, match=message):
        load_upload(source, file_type=file_type)


def test_an_unknown_suffix_needs_an_explicit_file_type(tmp_path: Path):
    file = tmp_path / "users.txt"
    file.write_bytes(CSV)
    with pytest.raises(MimecastConfigurationError, match="no csv, xlsx, xls suffix"):
        load_upload(file)
    assert load_upload(file, file_type="csv").file_type == "csv"


def test_a_directory_is_refused(tmp_path: Path):
    with pytest.raises(MimecastConfigurationError, match="is a directory"):
        load_upload(tmp_path)


def test_repr_shows_size_not_content():
    assert "ada@example.com" not in repr(load_upload(CSV))
