"""The ``mimecast`` connection's settings, validated before any request is sent. Pure, no I/O."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.signing import decode_secret_key

DEFAULT_BASE_URL = "https://api.services.mimecast.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
#: IDs per get-import-status request. Mimecast publishes no limit; 100 keeps a request small (~5 KB)
#: and its answer well under a megabyte, while 1,000 waits still cost only 10 requests a round.
DEFAULT_STATUS_BATCH_SIZE = 100

#: API 2.0 base URLs (OAuth 2.0 client credentials).
API2_BASE_URLS = {
    "global": "https://api.services.mimecast.com",
    "uk": "https://uk-api.services.mimecast.com",
    "us": "https://us-api.services.mimecast.com",
}
#: API 1.0 regional base URLs (HMAC signing); calling the wrong region fails authentication.
API1_BASE_URLS = {
    region: f"https://{region}-api.mimecast.com" for region in ("eu", "de", "us", "ca", "za", "au", "je")
}


class AuthType(str, Enum):
    """How the hook authenticates: API 2.0 bearer tokens or API 1.0 HMAC signatures."""

    OAUTH2 = "oauth2"
    HMAC = "hmac"


def is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def normalize_base_url(host: str | None) -> str:
    """Return the base URL for the connection's ``host``; plain http is allowed only on loopback."""
    if not host or not host.strip():
        return DEFAULT_BASE_URL
    text = host.strip().rstrip("/")
    if "://" not in text:
        # Airflow users often type only the host name; Mimecast is https-only.
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MimecastConfigurationError(
            f"host {host!r} is not a base URL: use e.g. {DEFAULT_BASE_URL} or a regional URL from the README"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise MimecastConfigurationError(
            f"host {host!r} uses plain http: Mimecast credentials must travel over https. "
            "Use https://... (plain http is accepted only for a loopback address such as the local simulator)"
        )
    if parts.path not in ("", "/") or parts.query:
        raise MimecastConfigurationError(
            f"host {host!r} has a path; give only the base URL such as {DEFAULT_BASE_URL}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _number(extra: Mapping[str, Any], name: str, default: float, *, integer: bool, minimum: float) -> Any:
    value = extra.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number of seconds"
        raise MimecastConfigurationError(f"extra field {name!r} is {value!r}; it must be {kind}") from None
    if number < minimum or isinstance(value, bool):
        raise MimecastConfigurationError(f"extra field {name!r} is {value!r}; it must be at least {minimum}")
    return number


@dataclass(frozen=True)
class MimecastSettings:
    """Everything the hook needs from a ``mimecast`` connection. Secrets are left out of ``repr``.

    :param base_url: scheme and host, e.g. ``https://api.services.mimecast.com``.
    :param auth_type: :class:`AuthType`.
    :param login: the client ID (API 2.0) or access key (API 1.0).
    :param secret: the client secret (API 2.0) or Base64 secret key (API 1.0).
    :param app_id: API 1.0 application ID.
    :param app_key: API 1.0 application key.
    :param timeout: seconds for each HTTP request.
    :param max_retries: retries after the first attempt for retryable failures.
    """

    base_url: str
    auth_type: AuthType
    login: str
    secret: str = field(repr=False)
    app_id: str | None = None
    app_key: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    status_batch_size: int = DEFAULT_STATUS_BATCH_SIZE

    @classmethod
    def from_connection_fields(
        cls,
        *,
        host: str | None,
        login: str | None,
        password: str | None,
        extra: Mapping[str, Any],
    ) -> MimecastSettings:
        """Validate a connection's fields; every error names the field and the fix."""
        raw_auth = str(extra.get("auth_type") or AuthType.OAUTH2.value).strip().lower()
        try:
            auth_type = AuthType(raw_auth)
        except ValueError:
            raise MimecastConfigurationError(
                f"extra field 'auth_type' is {extra.get('auth_type')!r}; use 'oauth2' (API 2.0 client "
                "credentials) or 'hmac' (API 1.0 keys)"
            ) from None
        oauth = auth_type is AuthType.OAUTH2
        login_name, secret_name = ("client ID", "client secret") if oauth else ("access key", "secret key")
        if not login or not login.strip():
            raise MimecastConfigurationError(f"the connection's login is empty: set it to the {login_name}")
        if not password or not password.strip():
            raise MimecastConfigurationError(
                f"the connection's password is empty: set it to the {secret_name}"
            )
        app_id = str(extra.get("app_id") or "").strip() or None
        app_key = str(extra.get("app_key") or "").strip() or None
        if not oauth:
            for name, value in (("app_id", app_id), ("app_key", app_key)):
                if value is None:
                    raise MimecastConfigurationError(
                        f"extra field {name!r} is required when auth_type is 'hmac': copy the application's "
                        f"{name.replace('_', ' ')} from the Mimecast console's API application"
                    )
            try:
                decode_secret_key(password)
            except ValueError as error:
                raise MimecastConfigurationError(str(error)) from None
        return cls(
            base_url=normalize_base_url(host),
            auth_type=auth_type,
            login=login.strip(),
            secret=password.strip(),
            app_id=app_id,
            app_key=app_key,
            timeout=_number(extra, "timeout", DEFAULT_TIMEOUT, integer=False, minimum=0.001),
            max_retries=_number(extra, "max_retries", DEFAULT_MAX_RETRIES, integer=True, minimum=0),
            status_batch_size=_number(
                extra, "status_batch_size", DEFAULT_STATUS_BATCH_SIZE, integer=True, minimum=1
            ),
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown: registered with Airflow's secret masker."""
        return tuple(value for value in (self.secret, self.app_key) if value)
