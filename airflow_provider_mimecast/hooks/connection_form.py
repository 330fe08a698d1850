"""The connection form's extra fields as Airflow 2.11 builds them (WTForms); 3.x reads ``conn-fields`` in
the provider info instead (:mod:`airflow_provider_mimecast.get_provider_info`).
"""

from __future__ import annotations

from typing import Any


def connection_form_widgets() -> dict[str, Any]:
    """Extra fields for Airflow 2.11's connection form; imported lazily, since only 2.x ships WTForms."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, PasswordField, StringField

    return {
        # Airflow 2.11's form accepts only string, integer, password and boolean fields.
        "auth_type": StringField(
            lazy_gettext("Auth type"),
            description="oauth2 (API 2.0, default) or hmac (API 1.0)",
            default="oauth2",
            widget=BS3TextFieldWidget(),
        ),
        "app_id": StringField(lazy_gettext("App ID (API 1.0)"), widget=BS3TextFieldWidget()),
        "app_key": PasswordField(lazy_gettext("App key (API 1.0)"), widget=BS3PasswordFieldWidget()),
        "timeout": IntegerField(lazy_gettext("Timeout (seconds)"), default=30, widget=BS3TextFieldWidget()),
        "max_retries": IntegerField(lazy_gettext("Max retries"), default=5, widget=BS3TextFieldWidget()),
        "verify": StringField(
            lazy_gettext("Verify TLS"),
            description="true, false, or the path of a CA bundle",
            default="true",
            widget=BS3TextFieldWidget(),
        ),
        "max_rate_limit_wait": IntegerField(
            lazy_gettext("Max rate-limit wait (seconds)"), default=300, widget=BS3TextFieldWidget()
        ),
        "status_batch_size": IntegerField(
            lazy_gettext("Status batch size"), default=10, widget=BS3TextFieldWidget()
        ),
        # A fraction: 2.11's form has no number field, so it is text ("0.2"), read as a number by the settings.
        "rate_limit_reserve": StringField(
            lazy_gettext("Rate-limit reserve"),
            description="fraction of the API user's rate limit left for other integrations; 0 uses it all",
            default="0.2",
            widget=BS3TextFieldWidget(),
        ),
    }
