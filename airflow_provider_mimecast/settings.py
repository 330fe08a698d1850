"""The ``mimecast`` connection's settings, validated before any request is sent. Pure, no I/O."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_mimecast.base_url import is_loopback, parse_base_url
from airflow_provider_mimecast.connection_extras import EXTRA, Extra
from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.signing import decode_secret_key


class AuthType(str, Enum):
    """How the hook authenticates: API 2.0 bearer tokens or API 1.0 HMAC signatures."""

    OAUTH2 = "oauth2"
    HMAC = "hmac"


def _refuse(name: str, value: Any, requirement: str) -> MimecastConfigurationError:
    return MimecastConfigurationError(f"extra field {name!r} is {value!r}; it must be {requirement}")


def _number(extra: Mapping[str, Any], spec: Extra) -> float:
    """A finite number within the declared bounds ("30" from a URI connection or the 2.11 form is fine), or
    the declared default when the field is empty; anything else is refused with the declared requirement."""
    name, value = spec.name, extra.get(spec.name)
    if value is None or value == "":
        return float(spec.default)
    if isinstance(value, bool):
        raise _refuse(name, value, spec.must_be)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise _refuse(name, value, spec.must_be) from None
    # nan, inf or 0 seconds would make a call unbounded or instant; a reserve of 20 (a percentage) or 1
    # (nothing left to spend) is refused by the bounds.
    if not (math.isfinite(number) and spec.allows(number)):
        raise _refuse(name, value, spec.must_be)
    return number


def _whole_number(extra: Mapping[str, Any], spec: Extra) -> int:
    """A whole number within the declared bounds; "3" from a URI connection is fine, 2.7 is not rounded."""
    name, value = spec.name, extra.get(spec.name)
    if value is None or value == "":
        return int(spec.default)
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        # A number too long to be in bounds is refused without parsing it.
        number = int(value.strip()) if len(value.strip()) < 20 else None
    if number is None or not spec.allows(number):
        raise _refuse(name, value, spec.must_be)
    return number


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _verify(extra: Mapping[str, Any]) -> bool | str:
    """TLS verification: true, false, or the path of a CA bundle (a file or a hashed directory)."""
    spec = EXTRA["verify"]
    value = extra.get(spec.name)
    if value is None or value == "":
        return bool(spec.default)
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise _refuse(spec.name, value, spec.must_be)
    text = value.strip()
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    # The one look at storage in settings: a missing bundle fails here, naming the field, rather than as a
    # TLS error on the first request.
    if not os.path.exists(text):
        raise MimecastConfigurationError(
            f"extra field 'verify' is {value!r}, which is neither true/false nor an existing CA bundle: give "
            "the path of the PEM file (e.g. your proxy's CA bundle) as the workers and triggerer see it"
        )
    return text


@dataclass(frozen=True)
class MimecastSettings:
    """Everything the hook needs from a ``mimecast`` connection. Secrets are left out of ``repr``. The
    extras' defaults and bounds are declared once, in :data:`~airflow_provider_mimecast.connection_extras.EXTRAS`.

    :param base_url: scheme and host, e.g. ``https://api.services.mimecast.com``.
    :param auth_type: :class:`AuthType`.
    :param login: the client ID (API 2.0) or access key (API 1.0).
    :param secret: the client secret (API 2.0) or Base64 secret key (API 1.0).
    :param app_id: API 1.0 application ID.
    :param app_key: API 1.0 application key.
    :param timeout: seconds for each HTTP request (extra ``timeout``).
    :param max_retries: retries after the first attempt for retryable failures (extra ``max_retries``).
    :param verify: TLS verification (extra ``verify``): True, False, or the path of a CA bundle, e.g. that of
        a TLS-inspecting proxy. A path is checked to exist.
    :param max_rate_limit_wait: the longest a task waits on one 429 before raising
        :class:`~airflow_provider_mimecast.errors.MimecastRateLimitError` so that Airflow's own retry or
        reschedule takes over (extra ``max_rate_limit_wait``, seconds).
    :param status_batch_size: the most import IDs sent in one get-import-status request (extra
        ``status_batch_size``); raise it only if Mimecast confirmed a higher limit for your account.
    :param rate_limit_reserve: the fraction of the API user's rate-limit bucket (``X-RateLimit-Limit``) that
        calls leave for the customer's other integrations: a call waits while sending it would take
        ``X-RateLimit-Remaining`` below it (extra ``rate_limit_reserve``; 0 uses the whole bucket).
    :param scheme_assumed: the host had no scheme and https was assumed (e.g. ``127.0.0.1:8025``); the hook
        quotes :meth:`tls_hint` when TLS then fails.
    """

    base_url: str
    auth_type: AuthType
    login: str
    secret: str = field(repr=False)
    app_id: str | None = None
    app_key: str | None = field(default=None, repr=False)
    timeout: float = EXTRA["timeout"].default
    max_retries: int = EXTRA["max_retries"].default
    verify: bool | str = EXTRA["verify"].default
    max_rate_limit_wait: float = EXTRA["max_rate_limit_wait"].default
    status_batch_size: int = EXTRA["status_batch_size"].default
    rate_limit_reserve: float = EXTRA["rate_limit_reserve"].default
    scheme_assumed: bool = False

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
        if not isinstance(extra, Mapping):
            raise MimecastConfigurationError(
                f"the connection's extra is a JSON {type(extra).__name__}; it must be a JSON object such as "
                '{"auth_type": "oauth2"}'
            )
        # Accepted in any case and with surrounding blanks ("OAuth2", " HMAC "), as URIs and env variables
        # are typed by hand; the connection form offers only the lower-case values.
        raw_auth = str(extra.get("auth_type") or EXTRA["auth_type"].default).strip().lower()
        try:
            auth_type = AuthType(raw_auth)
        except ValueError:
            raise MimecastConfigurationError(
                f"extra field 'auth_type' is {extra.get('auth_type')!r}; use 'oauth2' (API 2.0 client "
                "credentials) or 'hmac' (API 1.0 keys)"
            ) from None
        oauth = auth_type is AuthType.OAUTH2
        login_name, secret_name = ("client ID", "client secret") if oauth else ("access key", "secret key")
        if not isinstance(login, str) or not login.strip():
            raise MimecastConfigurationError(f"the connection's login is empty: set it to the {login_name}")
        if not isinstance(password, str) or not password.strip():
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
        base_url, scheme_assumed = parse_base_url(host)
        return cls(
            base_url=base_url,
            auth_type=auth_type,
            login=login.strip(),
            secret=password.strip(),
            app_id=app_id,
            app_key=app_key,
            timeout=_number(extra, EXTRA["timeout"]),
            max_retries=_whole_number(extra, EXTRA["max_retries"]),
            verify=_verify(extra),
            max_rate_limit_wait=_number(extra, EXTRA["max_rate_limit_wait"]),
            status_batch_size=_whole_number(extra, EXTRA["status_batch_size"]),
            rate_limit_reserve=_number(extra, EXTRA["rate_limit_reserve"]),
            scheme_assumed=scheme_assumed,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown: registered with Airflow's secret masker."""
        return tuple(value for value in (self.secret, self.app_key) if value)

    def tls_hint(self) -> str:
        """What to check when TLS fails (a protocol or certificate error), for the hook's error message."""
        hostname = urlsplit(self.base_url).hostname or ""
        if self.scheme_assumed and is_loopback(hostname):
            plain = "http://" + self.base_url.split("://", 1)[1]
            return (
                f"the connection's host has no scheme, so https was assumed; a local server such as the "
                f"simulator speaks plain http: set the host to {plain}"
            )
        return (
            "check that the host's port serves https, and if a proxy inspects TLS, set the connection's extra "
            "'verify' to the path of its CA bundle"
        )
