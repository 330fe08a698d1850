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
from tests.workbooks import handmade_xlsx, xlsx

CSV = b"email,name\nada@example.com,Ada\n"


def test_rows_become_csv_with_the_first_rows_keys_as_header():
    rows = [{"email": "a@example.com", "name": "A, with comma"}, {"email": "b@example.com"}]
    assert rows_to_csv(rows) == b'email,name\na@example.com,"A, with comma"\nb@example.com,\n'


def test_rows_are_written_with_email_name_and_password_first_as_mimecast_reads_them():
    rows = [{"dept": "R&D", "name": "Ada", "password": "pw", "email": "ada@example.com"}]
    assert rows_to_csv(rows) == b"email,name,password,dept\nada@example.com,Ada,pw,R&D\n"
    assert load_upload(rows).content == rows_to_csv(rows)


def test_a_row_with_an_unknown_column_is_refused():
    with pytest.raises(MimecastConfigurationError, match=r"row 2 has columns \['phone'\]"):
        rows_to_csv(
            [{"email": "a@example.com", "name": "A"}, {"email": "b@example.com", "name": "B", "phone": "1"}]
        )


@pytest.mark.parametrize("kind", ["str", "path", "object_storage"])
def test_paths_are_read_and_typed_by_suffix(tmp_path: Path, kind: str):
    file = tmp_path / "users.csv"
    file.write_bytes(CSV)
    source = {"str": str(file), "path": file, "object_storage": ObjectStoragePath(f"file://{file}")}[kind]
    upload = load_upload(source)
    assert (upload.content, upload.file_type, upload.content_type) == (CSV, "csv", "text/csv")


def test_generators_of_rows_work():
    upload = load_upload({"email": f"u{i}@example.com", "name": f"U{i}"} for i in range(3))
    assert upload.content.count(b"\n") == 4 and upload.file_type == "csv"


def test_a_csv_without_trailing_newline_gets_one():
    assert load_upload(CSV.rstrip(b"\n")).content == CSV


def test_spreadsheets_are_sent_as_they_are(tmp_path: Path):
    workbook = xlsx([["email", "name"], ["ada@example.com", "Ada"], ["grace@example.com", "Grace"]])
    (tmp_path / "users.XLSX").write_bytes(workbook)
    upload = load_upload(tmp_path / "users.XLSX")
    assert (upload.file_type, upload.content, upload.users) == ("xlsx", workbook, 2)
    # An xls file is binary BIFF: only its first bytes are checked, and its rows are not counted.
    (tmp_path / "users.xls").write_bytes(b"\xd0\xcf\x11\xe0rest-of-ole2")
    upload = load_upload(tmp_path / "users.xls")
    assert (upload.file_type, upload.content, upload.users) == ("xls", b"\xd0\xcf\x11\xe0rest-of-ole2", None)


@pytest.mark.parametrize(
    ("source", "file_type", "message"),
    [
        ("/no/such/users.csv", None, "does not exist"),
        (b"", None, "is empty"),
        (b"   \n", None, "is empty"),
        (b"email,name\n", None, r"has a header \(line 1\) but no user rows"),
        (b"title\nemail,name\n\n,\n", None, r"has a header \(line 2\) but no user rows"),
        (b"\n\n,\n", None, r"no header 'email' in its first 99 rows \(no header at all\)"),
        (CSV, "pdf", "file_type 'pdf' is not supported"),
        (b"email\nx@example.com\n", "xlsx", "not an xlsx file"),
        ([{"email": "x@example.com", "name": "X"}], "xls", "rows are written as CSV"),
        ({"email": "x@example.com", "name": "X"}, None, "source is dict"),
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
    upload = load_upload(b"email,name\rada@example.com,Ada\rbob@example.com,Bob")
    assert upload.content == b"email,name\nada@example.com,Ada\nbob@example.com,Bob\n"


def test_crlf_and_a_bom_are_kept_as_they_are():
    content = b"\xef\xbb\xbfemail,name\r\nada@example.com,Ada\r\n"
    assert load_upload(content).content == content


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"email,name\nada@example.com,A\rda\n",
            r"carriage return \(\\r\) inside an unquoted value on line 2",
        ),
        (b"email,na\rme\nada@example.com,Ada\n", "carriage return .* on line 1"),
        (b"email,name\n" + b"a" * 200_000 + b",x\n", "value over 128 KiB by line 2.*never closed"),
        (b'email,name\n"ada@example.com,Ada\n' + b"b@example.com,B\n" * 20_000, "never closed"),
        (CSV * 3 + b"x@example.com,A\rda\n", "on line 7"),
    ],
)
def test_csv_errors_name_the_source_and_the_fix(content, message):
    with pytest.raises(MimecastConfigurationError, match=message) as caught:
        load_upload(content)
    assert "'<bytes>'" in str(caught.value)


def test_a_quoted_value_with_a_line_break_is_fine():
    content = b'email,name\nada@example.com,"Ada\r\nLovelace"\n'
    assert load_upload(content).content == content


def test_non_utf8_after_the_first_rows_is_refused_naming_the_line():
    content = CSV + b"bob@example.com,Bob\n" * 100_000 + b"caf\xe9@example.com,Caf\xe9\n"
    with pytest.raises(MimecastConfigurationError, match=r"not UTF-8 text \(line 100003\)"):
        load_upload(content)


def test_a_lone_surrogate_in_rows_is_a_configuration_error():
    with pytest.raises(MimecastConfigurationError, match="row 2 has text that cannot be written as UTF-8"):
        rows_to_csv(
            [{"email": "a@example.com", "name": "ok"}, {"email": "b@example.com", "name": "bad\udcff"}]
        )


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


@pytest.mark.parametrize(("invalid_rows", "bound"), [("fail", 1.3), ("drop", 2.3)])
def test_peak_memory_of_a_large_csv_file_stays_near_its_size(tmp_path: Path, invalid_rows: str, bound: float):
    # Every row is parsed, one line at a time: the file's bytes are the only copy held, plus (when rows are
    # dropped) the bytes sent. scripts/benchmark.py prints the figure for a 100 MB file.
    file = tmp_path / "users.csv"
    row = b"user%07d@example.com,User Name %07d,Some Department,+44 20 7946 0000\n"
    bad = b"user%07d at example.com,User Name %07d,Some Department,+44 20 7946 0000\n"
    with file.open("wb") as out:
        out.write(b"email,name,department,phone\n")
        for start in range(0, 40_000, 10_000):
            out.write(
                b"".join(
                    (row if i % 100 or invalid_rows == "fail" else bad) % (i, i)
                    for i in range(start, start + 10_000)
                )
            )
    size = file.stat().st_size
    tracemalloc.start()
    try:
        upload = load_upload(file, invalid_rows=invalid_rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert upload.users == (40_000 if invalid_rows == "fail" else 39_600)
    assert len(upload.content) == size - (0 if invalid_rows == "fail" else 400 * len(bad % (0, 0)))
    assert peak < bound * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"


def test_a_file_type_that_is_not_a_string_is_refused():
    with pytest.raises(MimecastConfigurationError, match="file_type is int 5"):
        load_upload(CSV, file_type=5)


# -- the header Mimecast reads: a checkpoint cell "email" within A1-M99, "name" right of it ---------------


@pytest.mark.parametrize("header", ["emailAddress", "Email", "e-mail", "EMAIL", "E-Mail Address", " email"])
def test_a_header_mimecast_would_not_find_is_refused_naming_what_was_found(header):
    content = f"{header},name\nada@example.com,Ada\n".encode()
    with pytest.raises(MimecastConfigurationError) as caught:
        load_upload(content)
    assert f"found the header {header!r} in cell A1" in str(caught.value)
    assert "rename that header to 'email'" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"id,user\n1,ada@example.com\n",
            r"no header 'email' in its first 99 rows \(line 1 is 'id', 'user'\)",
        ),
        (
            b"email,Name\nada@example.com,Ada\n",
            r"'email' header in cell A1, but B1 is 'Name'.*add a 'name' column",
        ),
        (b"email\nada@example.com\n", "but B1 is empty"),
        (
            b"id,email,phone,name\n1,ada@example.com,1,Ada\n",
            "but C1 is 'phone'.*'name' is in D1: move that column next to email",
        ),
        (
            b"a,b,c,d,e,f,g,h,i,j,k,l,m,email,name\n" + b",,,,,,,,,,,,,ada@example.com,Ada\n",
            "in cell N1, right of column M",
        ),
        (b"\n" * 99 + CSV, r"no header 'email' in its first 99 rows"),
    ],
)
def test_a_missing_checkpoint_or_name_column_is_refused_with_the_fix(content, message):
    with pytest.raises(MimecastConfigurationError, match=message):
        load_upload(content)


def test_the_checkpoint_cell_may_sit_anywhere_within_a1_to_m99():
    # A title and a blank row above, the header in C3: the rows above it are not users.
    content = b"Staff export,,,\n\n,,email,name\n,,ada@example.com,Ada\n,,grace@example.com,Grace\n"
    assert load_upload(content).users == 2
    assert load_upload(b"\n" * 98 + CSV).users == 1  # the header in row 99


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"emailAddress": "ada@example.com", "name": "Ada"}],
            "the key 'emailAddress'.*rename the key to 'email'",
        ),
        ([{"Email": "ada@example.com", "name": "Ada"}], "the key 'Email'"),
        ([{"mail": "ada@example.com", "name": "Ada"}], "the key 'mail'"),
        (
            [{"address": "ada@example.com", "name": "Ada"}],
            r"no 'email' key \(their keys: \['address', 'name'\]\)",
        ),
        ([{"email": "ada@example.com", "Name": "Ada"}], r"no 'name' key \(their keys: \['email', 'Name'\]\)"),
    ],
)
def test_rows_without_email_and_name_keys_are_refused_naming_the_key(rows, message):
    with pytest.raises(MimecastConfigurationError, match=message):
        load_upload(rows)


# -- every user row's address, before upload -----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (" ada@example.com", "contains spaces"),
        ("ada @example.com", "contains spaces"),
        ("ada@example.com\t", "contains spaces"),
        ('"ada@example.com"', "is surrounded by quotes"),
        ("'ada@example.com'", "is surrounded by quotes"),
        ("ada", "is not an email address"),
        ("ada@example", "is not an email address"),
        ("ada@@example.com", "is not an email address"),
        ("ada@example..com", "is not an email address"),
        ("@example.com", "is not an email address"),
        ("ada.@example.com", "is not an email address"),
        ("ada@-example.com", "is not an email address"),
        ("Ada Lovelace <ada@example.com>", "contains spaces"),
        ("ada@example.com,grace@example.com", "is not an email address"),  # one quoted cell
    ],
)
def test_an_invalid_address_is_refused_by_line_with_its_problem(address, problem):
    content = rows_to_csv([{"email": "ok@example.com", "name": "Ok"}, {"email": address, "name": "X"}])
    with pytest.raises(MimecastConfigurationError) as caught:
        load_upload(content)
    assert (
        f"has 1 of 2 user rows whose email address Mimecast would refuse (line 3: {address!r} {problem})"
        in str(caught.value)
    )
    assert "invalid_rows='drop'" in str(caught.value)


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.com",
        "o'brien@example.co.uk",
        "ada+hr@sub.example.org",
        "josé@exämple.de",
        "a@b.io",
        "x_y@e-x.com",
    ],
)
def test_valid_addresses_pass(address):
    assert load_upload([{"email": address, "name": "X"}]).users == 1


def test_the_message_names_the_first_five_bad_rows_and_counts_all():
    lines = ["email,name"] + [f"user{n}@example.com,U" if n % 2 else f"user{n},U" for n in range(1, 21)]
    with pytest.raises(MimecastConfigurationError) as caught:
        load_upload(("\n".join(lines) + "\n").encode())
    message = str(caught.value)
    assert "has 10 of 20 user rows whose email address Mimecast would refuse" in message
    assert "line 3: 'user2' is not an email address; line 5:" in message
    assert "line 11: 'user10' is not an email address; and 5 more)" in message
    assert "line 13" not in message


def test_rows_are_reported_by_their_number_not_a_line():
    rows = [{"email": "a@example.com", "name": 'Ada\n"the first"'}, {"email": "bad", "name": "B"}]
    with pytest.raises(MimecastConfigurationError, match=r"source '<rows>' has 1 of 2 .*\(row 2: 'bad'"):
        load_upload(rows)


def test_blank_rows_are_not_users_and_rows_above_the_header_are_not_checked():
    content = b"export of 2026-01-01 by HR\nemail,name\n\nada@example.com,Ada\n,\n  ,  \n"
    assert load_upload(content).users == 1


def test_every_row_is_checked_not_only_the_first(tmp_path: Path):
    file = tmp_path / "users.csv"
    file.write_bytes(CSV + b"bob@example.com,Bob\n" * 50_000 + b"bob at example.com,Bob\n")
    with pytest.raises(MimecastConfigurationError, match=r"line 50003: 'bob at example.com' contains spaces"):
        load_upload(file)


@pytest.mark.parametrize("invalid_rows", ["skip", "", None, True])
def test_invalid_rows_must_be_fail_or_drop(invalid_rows):
    with pytest.raises(MimecastConfigurationError, match=r"invalid_rows is .*use 'fail'.* or 'drop'"):
        load_upload(CSV, invalid_rows=invalid_rows)


# -- invalid_rows="drop": the other rows are sent ------------------------------------------------------


def test_dropping_cuts_out_exactly_the_invalid_rows():
    content = (
        b"Title\r\n"
        b"email,name\r\n"
        b"ada@example.com,Ada\r\n"
        b'bad one,"Multi\r\nline"\r\n'  # one record over two lines: cut whole
        b"'grace@example.com',Grace\r\n"  # adjacent to the one before
        b"\r\n"
        b"linus@example.com,Linus\r\n"
        b"no-at-sign,X"  # the last row, without a newline
    )
    upload = load_upload(content, invalid_rows="drop")
    assert upload.content == b"Title\r\nemail,name\r\nada@example.com,Ada\r\n\r\nlinus@example.com,Linus\r\n"
    assert (upload.users, upload.dropped) == (2, 3)
    assert upload.rows_report() == {
        "sent": 2,
        "dropped": 3,
        "dropped_rows": [
            {"line": 4, "email": "bad one", "problem": "contains spaces"},
            {"line": 6, "email": "'grace@example.com'", "problem": "is surrounded by quotes"},
            {"line": 9, "email": "no-at-sign", "problem": "is not an email address"},
        ],
    }


def test_a_file_without_invalid_rows_is_sent_unchanged_when_dropping():
    upload = load_upload(CSV, invalid_rows="drop")
    assert (upload.content, upload.users, upload.dropped, upload.rows_report()["dropped_rows"]) == (
        CSV,
        1,
        0,
        [],
    )


def test_the_dropped_rows_report_stays_bounded():
    lines = ["email,name", "ok@example.com,Ok"] + [f"bad{n}-{'x' * 500},B" for n in range(1000)]
    upload = load_upload(("\n".join(lines) + "\n").encode(), invalid_rows="drop")
    report = upload.rows_report()
    assert (report["sent"], report["dropped"], len(report["dropped_rows"])) == (1, 1000, 20)
    assert all(len(row["email"]) <= 100 for row in report["dropped_rows"])
    assert upload.content == b"email,name\nok@example.com,Ok\n"


def test_dropping_every_row_leaves_nothing_to_import():
    with pytest.raises(MimecastConfigurationError, match=r"1 of 1 user rows.*No valid row is left to import"):
        load_upload(b"email,name\nbad,B\n", invalid_rows="drop")


def test_an_xls_file_cannot_have_rows_dropped():
    with pytest.raises(MimecastConfigurationError, match="xls file, whose rows are not read"):
        load_upload(b"\xd0\xcf\x11\xe0rest", file_type="xls", invalid_rows="drop")


# -- xlsx: the first sheet's checkpoint cell and address column, with the standard library ---------------


def test_an_xlsx_header_mimecast_would_not_find_is_refused():
    with pytest.raises(MimecastConfigurationError, match="found the header 'emailAddress' in cell A1"):
        load_upload(xlsx([["emailAddress", "name"], ["ada@example.com", "Ada"]]), file_type="xlsx")
    with pytest.raises(MimecastConfigurationError, match="'email' header in cell C5, but D5 is 'Name'"):
        load_upload(
            xlsx([["email", "Name"], ["ada@example.com", "Ada"]], start_row=5, start_column=3),
            file_type="xlsx",
        )


def test_an_xlsx_header_anywhere_within_a1_to_m99_is_found():
    workbook = xlsx(
        [["email", "name"], ["ada@example.com", "Ada"], [None, None], ["g@example.com", "G"]],
        start_row=99,
        start_column=13,
    )
    assert load_upload(workbook, file_type="xlsx").users == 2
    with pytest.raises(MimecastConfigurationError, match="no header 'email' in its first 99 rows"):
        load_upload(xlsx([["email", "name"], ["ada@example.com", "Ada"]], start_row=100), file_type="xlsx")


def test_only_the_first_sheet_of_an_xlsx_is_read():
    workbook = xlsx([["notes"], ["see the next sheet"]], [["email", "name"], ["ada@example.com", "Ada"]])
    with pytest.raises(MimecastConfigurationError, match=r"no header 'email'.*\(row 1 is 'notes'\)"):
        load_upload(workbook, file_type="xlsx")


@pytest.mark.parametrize("invalid_rows", ["fail", "drop"])
def test_invalid_xlsx_rows_are_refused_by_row(invalid_rows):
    workbook = xlsx([["email", "name"], ["ada@example.com", "Ada"], ["grace@example", "Grace"], [12, "Num"]])
    with pytest.raises(MimecastConfigurationError) as caught:
        load_upload(workbook, file_type="xlsx", invalid_rows=invalid_rows)
    message = str(caught.value)
    assert "has 2 of 3 user rows" in message
    assert "row 3: 'grace@example' is not an email address; row 4: '12' is not an email address" in message
    assert ("Rows cannot be dropped from an xlsx file" in message) is (invalid_rows == "drop")


def test_inline_strings_and_cells_without_references_are_read():
    sheet = (
        '<row><c t="inlineStr"><is><t>email</t></is></c><c t="s"><v>0</v></c></row>'
        '<row r="3"><c r="A3" t="inlineStr"><is><r><t>ada@</t></r><r><t>example.com</t></r></is></c>'
        '<c r="B3" t="s"><v>1</v></c></row>'
        '<row r="4"><c r="B4" t="s"><v>1</v></c></row>'
    )
    with pytest.raises(MimecastConfigurationError, match=r"1 of 2 user rows .*\(row 4: '' is empty\)"):
        load_upload(handmade_xlsx(sheet, ["name", "Ada"]), file_type="xlsx")
    assert (
        load_upload(
            handmade_xlsx(sheet.rpartition('<row r="4">')[0], ["name", "Ada"]), file_type="xlsx"
        ).users
        == 1
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"PK\x03\x04 not really a zip", "not a ZIP archive"),
        (handmade_xlsx('<row><c t="s"><v>7</v></c></row>'), "shared string '7', which does not exist"),
        (handmade_xlsx('<row><c r="B1" t="s"><v>0</v></c><c r="A1"/></row>', ["x"]), "out of order"),
        (handmade_xlsx("<row><c>"), "cannot be read"),
    ],
)
def test_an_unreadable_xlsx_is_refused(content, reason):
    with pytest.raises(
        MimecastConfigurationError, match=f"not an xlsx workbook whose first sheet can be read: .*{reason}"
    ):
        load_upload(content, file_type="xlsx")
