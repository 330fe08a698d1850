"""OpenLineage for :class:`~airflow_provider_mimecast.operators.import_users.MimecastImportUsersOperator`
(docs/importing.rst, "Lineage"): users move from a file into a Mimecast group.

- **Input**: the source file, a local path (namespace ``file``) or an object storage URI (``s3://bucket``
  and the key, as OpenLineage names them); none for bytes or rows, which name nothing.
- **Output**: the group, namespace ``mimecast://<API host>``, name the group's secure ID, with a
  ``mimecastGroup`` facet holding the name or folder path the task was given, where it was given one.
- **Run facets**: ``externalQuery`` (the import ID, as other providers report an external job's ID) and
  ``mimecastImport`` (ID, status, total and successful users; on success). On failure the OpenLineage
  listener adds its own ``errorMessage`` facet with the exception.

The ``apache-airflow-providers-openlineage`` provider stays optional: its classes are imported only when
its listener asks for lineage, which it does only where it is installed.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_mimecast.outlets import RESULT_ATTRIBUTE

__all__ = ["ImportLineageMixin", "group_dataset_namespace", "source_dataset_name"]


def source_dataset_name(source: Any) -> tuple[str, str] | None:
    """The OpenLineage (namespace, name) of an upload's source, or None for bytes and rows.

    As :func:`~airflow_provider_mimecast.uploads.load_upload` reads it: a ``str`` or a ``pathlib`` path is
    a local file; an ``ObjectStoragePath`` (or any object with ``read_bytes()``) is named by its URI.
    """
    if isinstance(source, str) or (
        isinstance(source, os.PathLike) and type(source).__module__.split(".")[0] == "pathlib"
    ):
        return "file", os.path.abspath(os.fsdecode(os.fspath(source)))
    if not hasattr(source, "read_bytes"):
        return None
    parts = urlsplit(str(source))
    if parts.scheme in ("", "file"):
        return "file", parts.path
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def group_dataset_namespace(base_url: str) -> str:
    """``mimecast://<host>`` of the connection's base URL (its port, where it has one, included)."""
    return f"mimecast://{urlsplit(base_url).netloc}"


@cache
def _facet_classes() -> tuple[type, type]:
    """The provider's own facets, defined the first time lineage is asked for (attrs and the OpenLineage
    client come with the openlineage provider)."""
    import attr
    from airflow.providers.common.compat.openlineage.facet import DatasetFacet, RunFacet

    @attr.define
    class MimecastImportRunFacet(RunFacet):  # type: ignore[misc]
        """The Mimecast import this run started or resumed, and its result where the task waited."""

        importId: str
        status: str | None = None
        totalUsers: int | None = None
        successfulImportedUsers: int | None = None

    @attr.define
    class MimecastGroupDatasetFacet(DatasetFacet):  # type: ignore[misc]
        """The destination group's name or folder path, as the task named it."""

        name: str

    return MimecastImportRunFacet, MimecastGroupDatasetFacet


def _namespace(task: Any, *, may_read_connection: bool) -> str | None:
    """The group's namespace from the connection the task already read; read it only if allowed."""
    hook = task.__dict__.get("hook")
    if hook is None and not may_read_connection:
        return None
    client = getattr(hook, "_client", None)
    if client is None and not may_read_connection:
        return None
    return group_dataset_namespace(task.hook.settings.base_url)


def operator_lineage(task: Any, *, failed: bool = False) -> Any:
    """The ``OperatorLineage`` of one run of the import operator ``task``, from what the run already knows
    (the rendered source, the group, the result it kept): the listener calls this in a forked process,
    where a failed run must not wait on Airflow or Mimecast (a successful run may read the connection,
    which it has nearly always read already).
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset, ExternalQueryRunFacet
    from airflow.providers.openlineage.extractors import OperatorLineage

    run_facet, group_facet = _facet_classes()
    result: dict[str, Any] = getattr(task, RESULT_ATTRIBUTE, None) or {}
    inputs = [Dataset(namespace=n, name=name) for n, name in filter(None, [source_dataset_name(task.source)])]
    namespace = _namespace(task, may_read_connection=not failed)
    group_id = result.get("groupId") or task.group_id
    outputs = []
    if group_id and namespace:
        facets = {"mimecastGroup": group_facet(name=task.group_name)} if task.group_name else {}
        outputs.append(Dataset(namespace=namespace, name=group_id, facets=facets))
    run_facets: dict[str, Any] = {}
    if result.get("id"):
        if namespace:
            run_facets["externalQuery"] = ExternalQueryRunFacet(
                externalQueryId=result["id"], source=namespace
            )
        run_facets["mimecastImport"] = run_facet(
            importId=result["id"],
            status=result.get("status"),
            totalUsers=result.get("totalUsers"),
            successfulImportedUsers=result.get("successfulImportedUsers"),
        )
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=run_facets)


class ImportLineageMixin:
    """The OpenLineage methods the openlineage provider's listener calls on the import operator."""

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Lineage of a successful run: source, group, import ID and result."""
        return operator_lineage(self)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """Lineage of a failed run: source, group where known, and the import ID if one was started."""
        return operator_lineage(self, failed=True)
