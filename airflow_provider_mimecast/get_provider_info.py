"""Provider metadata that Airflow discovers through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

import copy
from typing import Any

from airflow_provider_mimecast import __version__
from airflow_provider_mimecast.connection_extras import conn_fields, placeholders

#: Labels and hints for the standard connection fields (the extras' come from
#: :mod:`~airflow_provider_mimecast.connection_extras`), in the provider-info shape that Airflow 3.2+ reads
#: (earlier lines read :func:`hook_field_behaviour` through the hook).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "extra"],
    "relabeling": {
        "host": "Base URL",
        "login": "Client ID (API 2.0) / Access key (API 1.0)",
        "password": "Client secret (API 2.0) / Secret key (API 1.0)",
    },
    "placeholders": {
        "host": "https://api.services.mimecast.com",
        "login": "client ID, or API 1.0 access key",
        "password": "client secret, or API 1.0 secret key",
        **placeholders(),
    },
}


def hook_field_behaviour() -> dict[str, Any]:
    """:data:`UI_FIELD_BEHAVIOUR` in the shape ``BaseHook.get_ui_field_behaviour()`` must return.

    Airflow before 3.2 validates the hook's answer against its
    ``customized_form_field_behaviours.schema.json``, which spells the keys with underscores
    (``hidden_fields``); a dict it rejects is dropped with a warning and the form loses every label.
    A fresh copy each call, because Airflow rewrites the placeholders of the dict it is given.
    """
    return {key.replace("-", "_"): copy.deepcopy(value) for key, value in UI_FIELD_BEHAVIOUR.items()}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-mimecast",
        "name": "Mimecast",
        "description": "Start Mimecast user imports and wait for them to complete.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Mimecast",
                "external-doc-url": "https://developer.services.mimecast.com/",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Mimecast",
                "python-modules": [
                    "airflow_provider_mimecast.operators.import_status",
                    "airflow_provider_mimecast.operators.import_users",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Mimecast",
                "python-modules": ["airflow_provider_mimecast.sensors.import_status"],
            }
        ],
        "hooks": [
            {"integration-name": "Mimecast", "python-modules": ["airflow_provider_mimecast.hooks.mimecast"]}
        ],
        "triggers": [
            {
                "integration-name": "Mimecast",
                "python-modules": ["airflow_provider_mimecast.triggers.import_status"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "mimecast",
                "hook-class-name": "airflow_provider_mimecast.hooks.mimecast.MimecastHook",
                "hook-name": "Mimecast",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": conn_fields(),
            }
        ],
    }
