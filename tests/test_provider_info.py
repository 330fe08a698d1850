"""Airflow discovers the provider and its connection type from the entry point."""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import distribution, entry_points
from importlib.metadata import version as package_version
from importlib.resources import files
from importlib.util import find_spec
from typing import Any
from unittest.mock import Mock

import jsonschema
import pytest

from airflow_provider_mimecast import __version__
from airflow_provider_mimecast.get_provider_info import get_provider_info
from airflow_provider_mimecast.hooks.mimecast import MimecastHook

airflow_version = package_version("apache-airflow")


def test_entry_point_and_package_name_match_the_distribution():
    [entry] = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.value.startswith("airflow_provider_mimecast")
    ]
    info = entry.load()()
    assert info["package-name"] == distribution("airflow-provider-mimecast").metadata["Name"]
    assert info["versions"] == [__version__] == [distribution("airflow-provider-mimecast").version]


def test_connection_type_matches_the_hook():
    [connection] = get_provider_info()["connection-types"]
    assert connection["connection-type"] == MimecastHook.conn_type == "mimecast"
    module, _, name = connection["hook-class-name"].rpartition(".")
    assert (module, name) == (MimecastHook.__module__, MimecastHook.__name__)
    assert (MimecastHook.default_conn_name, MimecastHook.conn_name_attr) == (
        "mimecast_default",
        "mimecast_conn_id",
    )


#: The extras the hook reads from a connection (settings.py), each of which needs a form field.
EXTRAS = {
    "auth_type",
    "app_id",
    "app_key",
    "timeout",
    "max_retries",
    "verify",
    "max_rate_limit_wait",
    "status_batch_size",
    "rate_limit_reserve",
}
#: Standard fields the 3.2+ form can hide, relabel or fill with a placeholder (``StandardHookFields`` in
#: airflow/api_fastapi/core_api/datamodels/connections.py, built by ``HookMetaService``), plus ``extra``.
STANDARD_FIELDS = {"description", "schema", "host", "port", "login", "password", "extra"}


def _airflow_schema(name: str) -> dict[str, Any]:
    resource = files("airflow").joinpath(name)
    assert resource.is_file(), f"Airflow {airflow_version} ships no {name}"
    return json.loads(resource.read_text())


def _connection() -> dict[str, Any]:
    [connection] = get_provider_info()["connection-types"]
    return connection


def test_form_fields_cover_every_extra_and_mark_secrets():
    fields = _connection()["conn-fields"]
    assert set(fields) == EXTRAS
    assert fields["app_key"]["schema"]["format"] == "password"
    assert fields["auth_type"]["schema"]["enum"] == ["oauth2", "hmac"]
    assert {"schema", "port"} <= set(_connection()["ui-field-behaviour"]["hidden-fields"])


def test_hook_field_behaviour_passes_airflows_schema():
    # Airflow before 3.2 validates what the hook returns and drops the whole dict (every label and
    # placeholder) with only a warning when it does not pass.
    behaviour = MimecastHook.get_ui_field_behaviour()
    jsonschema.validate(behaviour, _airflow_schema("customized_form_field_behaviours.schema.json"))
    declared = _connection()["ui-field-behaviour"]
    assert behaviour == {
        "hidden_fields": declared["hidden-fields"],
        "relabeling": declared["relabeling"],
        "placeholders": declared["placeholders"],
    }
    behaviour["placeholders"].clear()  # Airflow rewrites the dict it is given; the next call is intact
    assert MimecastHook.get_ui_field_behaviour()["placeholders"] == declared["placeholders"]


def test_provider_info_form_has_the_shape_airflow_3_2_reads():
    # Airflow's provider_info schema does not look inside these two keys. What 3.2+ reads
    # (ProvidersManager._load_ui_metadata, _add_widgets, _add_customized_fields, HookMetaService):
    connection = _connection()
    behaviour = connection["ui-field-behaviour"]
    # only these three keys, renamed to underscores and validated like the hook's dict; others are dropped
    assert set(behaviour) <= {"hidden-fields", "relabeling", "placeholders"}
    jsonschema.validate(
        {key.replace("-", "_"): value for key, value in behaviour.items()},
        _airflow_schema("customized_form_field_behaviours.schema.json"),
    )
    assert set(behaviour["hidden-fields"]) <= STANDARD_FIELDS
    assert set(behaviour["relabeling"]) <= STANDARD_FIELDS
    # a placeholder names a standard field or one of this connection type's extra fields
    assert set(behaviour["placeholders"]) <= STANDARD_FIELDS | set(connection["conn-fields"])
    for name, field in connection["conn-fields"].items():
        # label becomes the schema's title, description is shown under the field, schema is a JSON
        # schema whose default is the initial value and whose format "password" marks a secret
        assert set(field) <= {"label", "description", "schema"}, name
        assert isinstance(field["label"], str) and isinstance(field.get("description", ""), str), name
        schema = field["schema"]
        jsonschema.Draft7Validator.check_schema(schema)
        assert "null" in schema["type"], f"{name}: an empty form field is sent as null"
        if "default" in schema:
            jsonschema.validate(schema["default"], schema)
        assert name not in STANDARD_FIELDS, name


def _form_metadata() -> tuple[dict[str, str], set[str], dict[str, tuple[str, bool]]]:
    """The Mimecast connection form as the installed Airflow's UI receives it.

    :return: the standard fields' labels, the hidden standard fields, and each extra field's label and
        whether it is a secret.
    """
    try:
        from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    except ImportError:  # Airflow 2: the Flask form reads the ProvidersManager
        from airflow.providers_manager import ProvidersManager

        manager = ProvidersManager()
        behaviour = manager.field_behaviours.get("mimecast", {})
        prefix = "extra__mimecast__"
        extras = {
            key.removeprefix(prefix): (
                str(widget.field.args[0]),
                widget.field.field_class.__name__ == "PasswordField",
            )
            for key, widget in manager.connection_form_widgets.items()
            if key.startswith(prefix)
        }
        return behaviour.get("relabeling", {}), set(behaviour.get("hidden_fields", [])), extras
    known = set(sys.modules)
    with warnings.catch_warnings():
        # Airflow's own code calls its deprecated ProvidersManager.hooks here (3.2+).
        warnings.simplefilter("ignore", FutureWarning)
        metadata = HookMetaService.hook_meta_data()
    # Without Flask-AppBuilder, Airflow puts mocks for wtforms & co. into sys.modules and leaves them.
    for name in set(sys.modules) - known:
        if isinstance(sys.modules[name], Mock):
            del sys.modules[name]
    if not any(meta.standard_fields for meta in metadata) and find_spec("flask_appbuilder") is None:
        pytest.skip(f"Airflow {airflow_version} builds no hook's form without Flask-AppBuilder installed")
    [meta] = [meta for meta in metadata if meta.connection_type == "mimecast"]
    assert meta.standard_fields, "Airflow loaded no field behaviour for mimecast (see its warnings)"
    fields = meta.standard_fields.model_dump()
    fields["schema"] = fields.pop("url_schema")
    labels = {name: field["title"] for name, field in fields.items() if field and field["title"]}
    hidden = {name for name, field in fields.items() if field and field["hidden"]}
    extras = {
        name: (field["schema"]["title"], field["schema"].get("format") == "password")
        for name, field in (meta.extra_fields or {}).items()
    }
    return labels, hidden, extras


def test_airflow_shows_the_labelled_form():
    # End to end through the installed Airflow: the hook's methods before 3.2, the provider info after.
    labels, hidden, extras = _form_metadata()
    assert labels == _connection()["ui-field-behaviour"]["relabeling"]
    assert {"schema", "port"} <= hidden
    assert set(extras) == EXTRAS
    assert extras["app_key"] == ("App key (API 1.0)", True)
    assert extras["auth_type"] == ("Auth type", False)


def test_airflow_lists_the_provider():
    from airflow.providers_manager import ProvidersManager

    assert "airflow-provider-mimecast" in ProvidersManager().providers
    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as HookManager
    except ImportError:  # Airflow 2
        HookManager = ProvidersManager  # type: ignore[misc,assignment]
    hook = HookManager().hooks["mimecast"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_mimecast.hooks.mimecast.MimecastHook"


def test_airflow_2_form_widgets_use_supported_field_types():
    wtforms = pytest.importorskip("wtforms", reason="the 2.11 connection form needs Flask-AppBuilder")
    pytest.importorskip("flask_appbuilder")
    widgets = MimecastHook.get_connection_form_widgets()
    assert set(widgets) == set(get_provider_info()["connection-types"][0]["conn-fields"])
    supported = (wtforms.StringField, wtforms.IntegerField, wtforms.PasswordField, wtforms.BooleanField)
    assert all(issubclass(field.field_class, supported) for field in widgets.values())
    assert issubclass(widgets["app_key"].field_class, wtforms.PasswordField)


def test_provider_info_matches_airflows_schema():
    jsonschema.validate(get_provider_info(), _airflow_schema("provider_info.schema.json"))


def test_the_package_metadata_says_what_a_registry_filters_by():
    from pathlib import Path

    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert "Typing :: Typed" in project["classifiers"]
    assert "airflow-provider" in project["keywords"]
    # The classifier's promise: the marker ships in the package.
    assert files("airflow_provider_mimecast").joinpath("py.typed").is_file()
    # Mimecast publishes no console URL per import, so the operators offer no extra link.
    assert "extra-links" not in get_provider_info()
