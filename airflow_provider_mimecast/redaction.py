"""Keeping secrets out of error messages: whatever a server or proxy echoes back is redacted before it becomes
part of an error. Pure, no I/O.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote, quote_plus

from airflow_provider_mimecast.errors import FailureDetail

REDACTED = "***"
#: Longest fail message kept, so that a server echoing a whole page cannot make an error of megabytes.
MESSAGE_LIMIT = 1000

# Secrets in shapes an echoing server or proxy shows even when their values are unknown to us: bearer
# tokens, API 1.0 signatures, and form or JSON fields named like a credential.
_CREDENTIAL_SHAPES = (
    re.compile(r"(?i)(\bbearer\s+)[^\s\"'<>,;&]{8,}"),
    re.compile(r"(?i)(\bMC\s+[^\s:\"'<>]+:)[^\s\"'<>,;&]+"),
    re.compile(
        r"(?i)(\b(?:client_secret|secret_?key|app_?key|access_token|refresh_token|password)"
        r"[\"']?\s*(?:=|:|%3D|%3A)\s*[\"']?)[^\s\"'<>,;&]+"
    ),
)


def _forms(secret: str) -> set[str]:
    """The ways a secret appears in echoed text: as is, form- or URL-encoded, JSON- or HTML-escaped."""
    return {
        secret,
        quote_plus(secret),  # an echoed form body (the token request's client_secret)
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        secret.replace("/", "\\/"),  # JSON writers that escape slashes
        html.escape(secret),
    }


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret in ``text``, in each form it may be echoed in, with ``***``.

    Also hides credential-shaped values whose secret is not known here (``Bearer <token>``, an API 1.0
    ``MC key:signature``, ``client_secret=...``). Any non-empty secret counts, however short: an error
    message that is harder to read is better than one that leaks.

    :param text: the text to clean, e.g. a response body excerpt or a fail message.
    :param secrets: the client secret, secret key, app key, current tokens and signatures.
    """
    forms = {form for secret in secrets if secret for form in _forms(secret) if form}
    if forms:
        # Longest first, so that a secret is not half-replaced by a shorter one it contains; percent
        # escapes match in either case (%2F, %2f).
        alternatives = [
            f"(?i:{re.escape(form)})" if "%" in form else re.escape(form)
            for form in sorted(forms, key=len, reverse=True)
        ]
        text = re.sub("|".join(alternatives), REDACTED, text)
    for shape in _CREDENTIAL_SHAPES:
        text = shape.sub(lambda match: match.group(1) + REDACTED, text)
    return text


def excerpt(body: bytes, limit: int = 200, *, secrets: Iterable[str] = ()) -> str:
    """A short, single-line excerpt of a response body for error messages, with secrets redacted.

    :param body: the response body.
    :param limit: the most characters shown.
    :param secrets: values to redact (see :func:`redact`); redacted before cutting, so no prefix leaks.
    """
    text = " ".join(redact(body.decode("utf-8", errors="replace"), secrets).split())
    return text if len(text) <= limit else text[:limit] + "..."


def shorten(text: str) -> str:
    """``text`` cut to :data:`MESSAGE_LIMIT` characters."""
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "..."


def _scrub(value: Any, secrets: tuple[str, ...], depth: int = 0) -> Any:
    """``value`` (echoed JSON) with secrets redacted from every string in it."""
    if isinstance(value, str):
        return redact(value, secrets)
    if depth > 8:  # deeper structure in a fail key is never useful; don't recurse into hostile nesting
        return REDACTED
    if isinstance(value, dict):
        return {redact(str(k), secrets): _scrub(v, secrets, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets, depth + 1) for item in value]
    return value


def scrub_failures(failures: tuple[FailureDetail, ...], secrets: Iterable[str]) -> tuple[FailureDetail, ...]:
    """``failures`` with secrets redacted from their codes, messages, fields and keys.

    :param failures: as :func:`~airflow_provider_mimecast.envelope.parse_failures` returns them.
    :param secrets: values to redact (see :func:`redact`).
    """
    known = tuple(secrets)
    return tuple(
        replace(
            failure,
            code=shorten(redact(failure.code, known)),
            message=shorten(redact(failure.message, known)),
            field=None if failure.field is None else _scrub(failure.field, known),
            key=_scrub(failure.key, known),
        )
        for failure in failures
    )


def listed_keys(document: Mapping[str, Any], secrets: Iterable[str]) -> str:
    """The document's keys for a message: never values, and keys too are redacted (an echo may use them).

    :param document: a JSON object from an answer.
    :param secrets: values to redact (see :func:`redact`).
    """
    known = tuple(secrets)
    return "[" + ", ".join(repr(shorten(redact(str(key), known))) for key in sorted(map(str, document))) + "]"
