"""The connection form's extra fields as Airflow 2.11 builds them (WTForms), from the declaration in
:mod:`airflow_provider_mimecast.connection_extras`; 3.x reads ``conn-fields`` in the provider info instead
(:mod:`airflow_provider_mimecast.get_provider_info`).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mimecast.connection_extras import EXTRAS, form_default


def connection_form_widgets() -> dict[str, Any]:
    """Extra fields for Airflow 2.11's connection form; imported lazily, since only 2.x ships WTForms."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, PasswordField, StringField

    widgets: dict[str, Any] = {}
    for extra in EXTRAS:
        # Airflow 2.11's form accepts only string, integer, password and boolean fields (a select field
        # drops the hook's whole form), so a choice is typed, and a number with a fraction (a timeout of
        # 2.5, a reserve of 0.2) is text that the settings read as a number.
        if extra.secret:
            field, widget = PasswordField, BS3PasswordFieldWidget()
        else:
            field, widget = (IntegerField if extra.kind == "integer" else StringField), BS3TextFieldWidget()
        options: dict[str, Any] = {"description": extra.help, "widget": widget}
        if extra.default is not None:
            default = form_default(extra)
            options["default"] = default if field is IntegerField else str(default)
        widgets[extra.name] = field(lazy_gettext(extra.label), **options)
    return widgets
