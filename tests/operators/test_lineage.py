"""The OpenLineage names of the import operator's datasets, without the provider (the emitted events are
checked for real in test_openlineage.py, in the OpenLineage lane)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_provider_mimecast.operators.lineage import group_dataset_namespace, source_dataset_name


class ObjectPath:
    """Stands in for an ObjectStoragePath: read with read_bytes(), named by its URI."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def read_bytes(self) -> bytes:
        return b""

    def __str__(self) -> str:
        return self.uri


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("/data/users.csv", ("file", "/data/users.csv")),
        ("users.csv", ("file", os.path.abspath("users.csv"))),
        (Path("/data/users.xlsx"), ("file", "/data/users.xlsx")),
        (ObjectPath("s3://hr-exports/daily/users.csv"), ("s3://hr-exports", "daily/users.csv")),
        (ObjectPath("gs://bucket/users.csv"), ("gs://bucket", "users.csv")),
        (ObjectPath("file:///data/users.csv"), ("file", "/data/users.csv")),
        (b"email,name\n", None),
        ([{"email": "ada@example.com"}], None),
    ],
    ids=["path", "relative", "pathlib", "s3", "gcs", "file_uri", "bytes", "rows"],
)
def test_the_source_is_named_as_openlineage_names_files_and_object_storage(source, expected):
    assert source_dataset_name(source) == expected


def test_the_group_namespace_is_the_mimecast_host():
    assert (
        group_dataset_namespace("https://api.services.mimecast.com") == "mimecast://api.services.mimecast.com"
    )
    assert group_dataset_namespace("http://127.0.0.1:8443/") == "mimecast://127.0.0.1:8443"
