"""Airflow discovers the provider and its connection type from the entry point."""

from __future__ import annotations

from importlib.metadata import distribution, entry_points

import pytest

from airflow_provider_mimecast import __version__
from airflow_provider_mimecast.get_provider_info import get_provider_info
from airflow_provider_mimecast.hooks.mimecast import MimecastHook


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


def test_form_fields_cover_every_extra_and_mark_secrets():
    [connection] = get_provider_info()["connection-types"]
    fields = connection["conn-fields"]
    assert set(fields) == {"auth_type", "app_id", "app_key", "timeout", "max_retries"}
    assert fields["app_key"]["schema"]["format"] == "password"
    assert fields["auth_type"]["schema"]["enum"] == ["oauth2", "hmac"]
    assert connection["ui-field-behaviour"] == MimecastHook.get_ui_field_behaviour()
    assert {"schema", "port"} <= set(connection["ui-field-behaviour"]["hidden-fields"])


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
    import json
    from importlib.resources import files

    jsonschema = pytest.importorskip("jsonschema")
    schema = files("airflow").joinpath("provider_info.schema.json")
    if not schema.is_file():
        pytest.skip("this Airflow ships no provider_info schema")
    jsonschema.validate(get_provider_info(), json.loads(schema.read_text()))
