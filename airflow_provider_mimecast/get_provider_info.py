"""Provider metadata that Airflow discovers through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

import copy
from typing import Any

from airflow_provider_mimecast import __version__

#: Labels and hints for the standard connection fields, in the provider-info shape that Airflow 3.2+ reads
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
        "auth_type": "oauth2",
        "app_id": "API 1.0 only",
        "app_key": "API 1.0 only",
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
                "conn-fields": {
                    "auth_type": {
                        "label": "Auth type",
                        "description": "oauth2: API 2.0 client credentials; hmac: API 1.0 signed requests",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "oauth2",
                            "enum": ["oauth2", "hmac"],
                        },
                    },
                    "app_id": {
                        "label": "App ID (API 1.0)",
                        "description": "Application ID; required when auth type is hmac",
                        "schema": {"type": ["string", "null"]},
                    },
                    "app_key": {
                        "label": "App key (API 1.0)",
                        "description": "Application key; required when auth type is hmac",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Timeout of each HTTP request",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of rate-limited, server-error and dropped calls",
                        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0, "maximum": 20},
                    },
                    "verify": {
                        "label": "Verify TLS",
                        "description": "true, false, or the path of a CA bundle (e.g. an inspecting proxy's)",
                        "schema": {"type": ["string", "null"], "default": "true"},
                    },
                    "max_rate_limit_wait": {
                        "label": "Max rate-limit wait (seconds)",
                        "description": "Longest a task sleeps on one 429 before failing for Airflow to retry",
                        "schema": {"type": ["number", "null"], "default": 300, "exclusiveMinimum": 0},
                    },
                    "status_batch_size": {
                        "label": "Status batch size",
                        "description": "Most import IDs per get-import-status request; Mimecast allows 10, "
                        "raise it only if Mimecast confirmed more for your account",
                        "schema": {
                            "type": ["integer", "null"],
                            "default": 10,
                            "minimum": 1,
                            "maximum": 1000,
                        },
                    },
                    "rate_limit_reserve": {
                        "label": "Rate-limit reserve",
                        "description": "Fraction of the API user's rate limit left for its other integrations "
                        "(SIEM, scripts); 0 uses it all",
                        "schema": {
                            "type": ["number", "null"],
                            "default": 0.2,
                            "minimum": 0,
                            "exclusiveMaximum": 1,
                        },
                    },
                },
            }
        ],
    }
