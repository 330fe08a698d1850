"""The credentials the simulator accepts, and the Airflow connection that carries them."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SimulatorCredentials:
    """The credentials the simulator accepts.

    :param client_id: API 2.0 client ID.
    :param client_secret: API 2.0 client secret.
    :param access_key: API 1.0 access key.
    :param secret_key: API 1.0 secret key, Base64 as Mimecast issues it.
    :param app_id: API 1.0 application ID.
    :param app_key: API 1.0 application key.
    """

    client_id: str
    client_secret: str = field(repr=False)
    access_key: str
    secret_key: str = field(repr=False)
    app_id: str
    app_key: str = field(repr=False)


#: Public demo values: the simulator is a loopback-only test double, so these are not secrets.
DEFAULT_CREDENTIALS = SimulatorCredentials(
    client_id="mimecast-simulator-client",
    client_secret="mimecast-simulator-client-secret",
    access_key="mimecast-simulator-access-key",
    secret_key=base64.b64encode(b"mimecast-simulator-secret").decode("ascii"),
    app_id="mimecast-simulator-app",
    app_key="mimecast-simulator-app-key",
)


def airflow_connection(
    url: str,
    auth_type: str = "oauth2",
    *,
    credentials: SimulatorCredentials = DEFAULT_CREDENTIALS,
    **extra: Any,
) -> str:
    """A ``mimecast`` connection as JSON for an ``AIRFLOW_CONN_<ID>`` variable.

    :param url: the base URL, e.g. :attr:`MimecastSimulator.url`.
    :param auth_type: ``oauth2`` (API 2.0) or ``hmac`` (API 1.0).
    :param credentials: the credentials to put in it.
    :param extra: further extra fields, e.g. ``timeout``.
    """
    if auth_type == "oauth2":
        login, password = credentials.client_id, credentials.client_secret
    elif auth_type == "hmac":
        login, password = credentials.access_key, credentials.secret_key
        extra = {"app_id": credentials.app_id, "app_key": credentials.app_key, **extra}
    else:
        raise ValueError(f"auth_type must be 'oauth2' or 'hmac', got {auth_type!r}")
    return json.dumps(
        {
            "conn_type": "mimecast",
            "host": url,
            "login": login,
            "password": password,
            "extra": {"auth_type": auth_type, **extra},
        }
    )
