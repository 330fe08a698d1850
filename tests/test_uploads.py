"""Import sources and the checks made before any upload: pure, no network."""

from __future__ import annotations

import os
import random
import threading
import tracemalloc
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


def test_cr_only_line_endings_are_sent_as_lf():
    upload = load_upload(b"emailAddress,name\rada@example.com,Ada\rbob@example.com,Bob")
    assert upload.content == b"emailAddress,name\nada@example.com,Ada\nbob@example.com,Bob\n"


def test_crlf_and_a_bom_are_kept_as_they_are():
    content = b"\xef\xbb\xbfemailAddress,name\r\nada@example.com,Ada\r\n"
    assert load_upload(content).content == content


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"emailAddress,name\nada@example.com,A\rda\n", r"carriage return \(\\r\) inside an unquoted value"),
        (b"emailAddress,na\rme\nada@example.com,Ada\n", "carriage return"),
        (b"emailAddress,name\n" + b"a" * 200_000 + b",x\n", "value over 128 KiB.*never closed"),
        (b'emailAddress,name\n"ada@example.com,Ada\n' + b"b@example.com,B\n" * 20_000, "never closed"),
    ],
)
def test_csv_errors_name_the_source_and_the_fix(content, message):
    with pytest.raises(MimecastConfigurationError, match=message) as caught:
        load_upload(content)
    assert "'<bytes>'" in str(caught.value)


def test_a_quoted_value_with_a_line_break_is_fine():
    content = b'emailAddress,name\nada@example.com,"Ada\r\nLovelace"\n'
    assert load_upload(content).content == content


def test_non_utf8_after_the_first_rows_is_refused_naming_the_line():
    content = CSV + b"bob@example.com,Bob\n" * 100_000 + b"caf\xe9@example.com,Caf\xe9\n"
    with pytest.raises(MimecastConfigurationError, match=r"not UTF-8 text \(line 100003\)"):
        load_upload(content)


def test_a_lone_surrogate_in_rows_is_a_configuration_error():
    with pytest.raises(MimecastConfigurationError, match="row 2 has text that cannot be written as UTF-8"):
        rows_to_csv([{"name": "ok"}, {"name": "bad\udcff"}])


class VanishingPath:
    """A storage path that exists when checked and is gone when read."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return self.name

    def exists(self) -> bool:
        return True

    def is_dir(self) -> bool:
        return False

    def read_bytes(self) -> bytes:
        raise FileNotFoundError(2, "No such file or directory")


def test_a_file_that_vanishes_before_the_read_is_a_configuration_error():
    with pytest.raises(MimecastConfigurationError, match=r"'s3://bucket/users\.csv' does not exist"):
        load_upload(VanishingPath("s3://bucket/users.csv"))


@pytest.mark.parametrize("path", ["/no/such/dir/users.csv", "users\x00.csv", "x" * 5000 + ".csv"])
def test_unopenable_paths_are_configuration_errors(path):
    with pytest.raises(MimecastConfigurationError, match=r"does not exist|cannot be opened"):
        load_upload(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["str", "path", "object_storage"])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, kind: str):
    fifo = tmp_path / "users.csv"
    os.mkfifo(fifo)
    source = {"str": str(fifo), "path": fifo, "object_storage": ObjectStoragePath(f"file://{fifo}")}[kind]
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            load_upload(source)
        except BaseException as error:  # recorded and checked below
            outcome.append(error)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "reading the FIFO blocked"
    assert isinstance(outcome[0], MimecastConfigurationError) and "not a regular file" in str(outcome[0])


def test_random_csv_bytes_raise_only_configuration_errors():
    rng = random.Random(8)
    pieces = [b"a", b",", b'"', b"\n", b"\r", b"\r\n", b" ", b"\xef\xbb\xbf", b"\xff", b"\x00", b"\xc3\xa9"]
    for _ in range(3000):
        content = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 24)))
        try:
            upload = load_upload(content)
        except MimecastConfigurationError:
            continue
        assert upload.content.endswith(b"\n")


def test_peak_memory_of_a_large_csv_file_stays_near_its_size(tmp_path: Path):
    file = tmp_path / "users.csv"
    row = b"user%07d@example.com,User Name %07d,Some Department,+44 20 7946 0000\n"
    with file.open("wb") as out:
        out.write(b"emailAddress,name,department,phone\n")
        for start in range(0, 300_000, 10_000):
            out.write(b"".join(row % (i, i) for i in range(start, start + 10_000)))
    size = file.stat().st_size
    tracemalloc.start()
    try:
        upload = load_upload(file)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(upload.content) == size
    assert peak < 1.3 * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"


def test_a_file_type_that_is_not_a_string_is_refused():
    with pytest.raises(MimecastConfigurationError, match="file_type is int 5"):
        load_upload(CSV, file_type=5)
