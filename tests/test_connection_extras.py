"""Every reader of the connection's extras follows their one declaration (connection_extras.EXTRAS)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from airflow_provider_mimecast.connection_extras import EXTRA, EXTRAS, json_schema
from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.get_provider_info import get_provider_info
from airflow_provider_mimecast.settings import MimecastSettings

SECRET_KEY = "dGVzdC1zZWNyZXQta2V5LWJ5dGVz"
HMAC = {"auth_type": "hmac", "app_id": "app", "app_key": "app-key-value"}


def settings(extra: dict[str, object]) -> MimecastSettings:
    return MimecastSettings.from_connection_fields(
        host=None, login="access-key", password=SECRET_KEY, extra={**HMAC, **extra}
    )


def test_every_settings_field_from_an_extra_is_declared_with_its_default():
    read = {f.name for f in dataclasses.fields(MimecastSettings)} & set(EXTRA)
    assert read == set(EXTRA), "each declared extra is a field of MimecastSettings"
    empty = MimecastSettings.from_connection_fields(
        host=None, login="client-id", password="client-secret-value", extra={}
    )
    declared = {f.name: f.default for f in dataclasses.fields(MimecastSettings)}
    for extra in EXTRAS:
        # AuthType is a str enum: AuthType.OAUTH2 == "oauth2"
        assert getattr(empty, extra.name) == extra.default, extra.name
        if extra.name != "auth_type":  # a required field of the dataclass
            assert declared[extra.name] == extra.default, extra.name  # the dataclass's own default
    # an empty field (the 3.x form sends null, the 2.11 form "") means the default as well
    with_defaults = [e for e in EXTRAS if e.default is not None and e.name != "auth_type"]
    blank = settings({e.name: "" for e in with_defaults})
    assert [getattr(blank, e.name) for e in with_defaults] == [e.default for e in with_defaults]


def _edges(extra):
    """Values at and just beyond each declared bound, with whether the settings must accept them."""
    step = 1 if extra.kind == "integer" else 0.001
    if extra.minimum is not None:
        yield extra.minimum, not extra.exclusive_minimum
        yield extra.minimum - step, False
    if extra.maximum is not None:
        yield extra.maximum, not extra.exclusive_maximum
        yield extra.maximum + step, False


BOUNDED = [e for e in EXTRAS if e.minimum is not None or e.maximum is not None]


@pytest.mark.parametrize("extra", BOUNDED, ids=[e.name for e in BOUNDED])
def test_settings_enforce_the_declared_bounds_naming_the_field_and_the_fix(extra):
    assert {e.name for e in BOUNDED} == {
        "timeout",
        "max_retries",
        "max_rate_limit_wait",
        "status_batch_size",
        "rate_limit_reserve",
    }
    for value, accepted in _edges(extra):
        if accepted:
            assert getattr(settings({extra.name: value}), extra.name) == value
        else:
            with pytest.raises(MimecastConfigurationError) as caught:
                settings({extra.name: value})
            assert str(caught.value) == f"extra field {extra.name!r} is {value!r}; it must be {extra.must_be}"


def test_provider_info_conn_fields_are_the_declaration():
    [connection] = get_provider_info()["connection-types"]
    fields = connection["conn-fields"]
    assert list(fields) == [e.name for e in EXTRAS]
    for extra in EXTRAS:
        assert fields[extra.name]["label"] == extra.label
        assert fields[extra.name]["description"] == extra.help
        assert fields[extra.name]["schema"] == json_schema(extra)
    assert fields["timeout"]["schema"] == {"type": ["number", "null"], "default": 30, "exclusiveMinimum": 0}
    assert fields["rate_limit_reserve"]["schema"]["exclusiveMaximum"] == 1
    assert fields["verify"]["schema"]["default"] == "true"
    placeholders = connection["ui-field-behaviour"]["placeholders"]
    assert {e.name: e.placeholder for e in EXTRAS if e.placeholder} == {
        name: text for name, text in placeholders.items() if name in EXTRA
    }


def test_provider_info_imports_neither_airflow_nor_the_settings():
    # Airflow's ProvidersManager imports get_provider_info in every process that lists providers.
    code = (
        "import sys; from airflow_provider_mimecast.get_provider_info import get_provider_info; "
        "get_provider_info(); "
        "print(sorted(m for m in sys.modules if m.startswith(('airflow', 'httpx', 'idna')) "
        "and m != 'airflow_provider_mimecast.get_provider_info'))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['airflow_provider_mimecast', 'airflow_provider_mimecast.connection_extras']"


def test_airflow_2_form_fields_are_the_declaration():
    wtforms = pytest.importorskip("wtforms", reason="the 2.11 connection form needs Flask-AppBuilder")
    pytest.importorskip("flask_appbuilder")
    from airflow_provider_mimecast.hooks.connection_form import connection_form_widgets

    widgets = connection_form_widgets()
    assert list(widgets) == [e.name for e in EXTRAS]
    for extra in EXTRAS:
        field = widgets[extra.name]
        assert str(field.args[0]) == extra.label
        assert field.kwargs["description"] == extra.help
        expected = {"integer": wtforms.IntegerField}.get(extra.kind, wtforms.StringField)
        assert field.field_class is (wtforms.PasswordField if extra.secret else expected), extra.name
        default = field.kwargs.get("default")
        if extra.default is None:
            assert default is None, extra.name
        else:
            # what the form stores is read back by the settings as the declared default
            stored = settings({extra.name: default})
            assert getattr(stored, extra.name) == extra.default, extra.name
    assert widgets["timeout"].kwargs["default"] == "30"
    assert widgets["max_retries"].kwargs["default"] == 5
