"""The ``mimecast`` connection's extra fields, each declared once: name, label, type, default, bounds, help.

Read by the settings' validation (:mod:`airflow_provider_mimecast.settings`: defaults, bounds and the fix an
error names), the provider info's ``conn-fields`` and placeholders (Airflow 3.x's form,
:mod:`airflow_provider_mimecast.get_provider_info`), the Airflow 2.11 form
(:mod:`airflow_provider_mimecast.hooks.connection_form`), and tests/test_docs.py, which checks the table in
docs/connection.rst against it. Pure data: no Airflow import, cheap to import (the provider info imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: ``choice``: one of ``choices`` (text); ``text``: free text; ``tls``: true, false or a CA bundle's path;
#: ``number``: a finite number (seconds, a fraction); ``integer``: a whole number.
Kind = Literal["choice", "text", "tls", "number", "integer"]


@dataclass(frozen=True)
class Extra:
    """One extra field of the ``mimecast`` connection.

    :param name: the key in the connection's ``extra``.
    :param label: the form's label.
    :param kind: how the value is read (:data:`Kind`).
    :param help: the form's description under the field.
    :param default: the value when the field is empty or missing (None: no default).
    :param minimum: the smallest value allowed (``number`` and ``integer``).
    :param maximum: the largest value allowed.
    :param exclusive_minimum: ``minimum`` itself is refused (e.g. 0 seconds).
    :param exclusive_maximum: ``maximum`` itself is refused (e.g. a reserve of 1, nothing left to spend).
    :param requirement: what a value must be, as an error says it after "it must be" (derived for integers).
    :param choices: the values of a ``choice``.
    :param secret: masked in the form (a password field).
    :param placeholder: the form's placeholder.
    """

    name: str
    label: str
    kind: Kind
    help: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    requirement: str = ""
    choices: tuple[str, ...] = ()
    secret: bool = False
    placeholder: str | None = None

    def allows(self, number: float) -> bool:
        """Whether ``number`` is within the declared bounds."""
        low, high = self.minimum, self.maximum
        if low is not None and (number <= low if self.exclusive_minimum else number < low):
            return False
        return high is None or (number < high if self.exclusive_maximum else number <= high)

    @property
    def must_be(self) -> str:
        """The fix an error names: ``requirement``, or for an integer its range."""
        if self.kind == "integer" and not self.requirement:
            return f"a whole number from {self.minimum:g} to {self.maximum:g}"
        return self.requirement


#: Every extra field of the connection, in the forms' order.
EXTRAS: tuple[Extra, ...] = (
    Extra(
        "auth_type",
        "Auth type",
        "choice",
        "oauth2: API 2.0 client credentials; hmac: API 1.0 signed requests",
        default="oauth2",
        choices=("oauth2", "hmac"),
        placeholder="oauth2",
    ),
    Extra(
        "app_id",
        "App ID (API 1.0)",
        "text",
        "Application ID; required when auth type is hmac",
        placeholder="API 1.0 only",
    ),
    Extra(
        "app_key",
        "App key (API 1.0)",
        "text",
        "Application key; required when auth type is hmac",
        secret=True,
        placeholder="API 1.0 only",
    ),
    Extra(
        "timeout",
        "Timeout (seconds)",
        "number",
        "Timeout of each HTTP request",
        default=30.0,
        minimum=0,
        exclusive_minimum=True,
        requirement="a positive number of seconds, e.g. 30",
    ),
    # Retries are for transient failures; past 20 (over 15 minutes of capped backoff) a call is not going to
    # succeed, and Airflow's task retries are the outer loop. A larger value is a typo, not a policy.
    Extra(
        "max_retries",
        "Max retries",
        "integer",
        "Retries of rate-limited, server-error and dropped calls",
        default=5,
        minimum=0,
        maximum=20,
    ),
    Extra(
        "verify",
        "Verify TLS",
        "tls",
        "true, false, or the path of a CA bundle (e.g. an inspecting proxy's)",
        default=True,
        requirement="true, false, or the path of a CA bundle file",
    ),
    # A task's worker sleeps through a 429 up to this long; past it the task fails and Airflow retries later.
    Extra(
        "max_rate_limit_wait",
        "Max rate-limit wait (seconds)",
        "number",
        "Longest a task sleeps on one 429 before failing for Airflow to retry",
        default=300.0,
        minimum=0,
        exclusive_minimum=True,
        requirement="a positive number of seconds, e.g. 30",
    ),
    # Mimecast's API 2.0 reference allows "up to 10 user import requests in a single API call". A higher
    # value is for accounts that Mimecast told otherwise.
    Extra(
        "status_batch_size",
        "Status batch size",
        "integer",
        "Most import IDs per get-import-status request; Mimecast allows 10, "
        "raise it only if Mimecast confirmed more for your account",
        default=10,
        minimum=1,
        maximum=1000,
    ),
    # What the customer's other integrations (SIEM collectors, scripts) spending from the same bucket keep.
    Extra(
        "rate_limit_reserve",
        "Rate-limit reserve",
        "number",
        "Fraction of the API user's rate limit left for its other integrations (SIEM, scripts); 0 uses it all",
        default=0.2,
        minimum=0,
        maximum=1,
        exclusive_maximum=True,
        requirement="a fraction of the rate limit from 0 to below 1, e.g. 0.2 to leave a fifth for other "
        "integrations",
    ),
)

#: :data:`EXTRAS` by name.
EXTRA: dict[str, Extra] = {extra.name: extra for extra in EXTRAS}


def form_default(extra: Extra) -> Any:
    """The form's initial value: a ``tls`` default as the text it is typed as, 30.0 shown as 30."""
    default = extra.default
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float) and default.is_integer():
        return int(default)
    return default


def json_schema(extra: Extra) -> dict[str, Any]:
    """The field's JSON schema as Airflow 3.x's form reads it (an empty field is sent as null)."""
    kind = {"number": "number", "integer": "integer"}.get(extra.kind, "string")
    schema: dict[str, Any] = {"type": [kind, "null"]}
    if extra.default is not None:
        schema["default"] = form_default(extra)
    if extra.choices:
        schema["enum"] = list(extra.choices)
    if extra.secret:
        schema["format"] = "password"
    for bound, exclusive, key in (
        (extra.minimum, extra.exclusive_minimum, "Minimum"),
        (extra.maximum, extra.exclusive_maximum, "Maximum"),
    ):
        if bound is not None:
            schema[f"exclusive{key}" if exclusive else key.lower()] = bound
    return schema


def conn_fields() -> dict[str, dict[str, Any]]:
    """The provider info's ``conn-fields``: every extra with its label, help and schema."""
    return {
        extra.name: {"label": extra.label, "description": extra.help, "schema": json_schema(extra)}
        for extra in EXTRAS
    }


def placeholders() -> dict[str, str]:
    """The extras' placeholders, for the provider info's ``ui-field-behaviour``."""
    return {extra.name: extra.placeholder for extra in EXTRAS if extra.placeholder is not None}
