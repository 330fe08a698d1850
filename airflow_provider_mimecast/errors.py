"""One exception hierarchy for everything the provider raises.

Every class derives from :class:`MimecastError`, an ``AirflowException``, so callers can catch the
provider's failures with one ``except``. Messages never contain secrets: only what Mimecast said, the
HTTP status, the import ID concerned and the ``x-mc-req-id`` to quote to Mimecast support.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException


@dataclass(frozen=True)
class FailureDetail:
    """One error Mimecast reported inside a ``fail`` entry."""

    code: str
    message: str
    retryable: bool = False
    field: str | None = None
    #: The item the error concerns, as Mimecast echoed it (e.g. ``{"id": "<import id>"}``).
    key: Any = None

    @property
    def import_id(self) -> str | None:
        if isinstance(self.key, dict) and isinstance(self.key.get("id"), str):
            return self.key["id"]
        return self.key if isinstance(self.key, str) else None

    def describe(self) -> str:
        parts = [f"{self.code}: {self.message}"]
        if self.import_id:
            parts.insert(0, f"import {self.import_id!r}")
        if self.field:
            parts.append(f"(field {self.field!r})")
        parts.append("(retryable)" if self.retryable else "(not retryable)")
        return " ".join(parts)


class MimecastError(AirflowException):
    """Base class of every error the Mimecast provider raises.

    :param message: what went wrong and how to fix it, free of secrets.
    :param status_code: the HTTP status of the answer, if one came.
    :param request_id: the ``x-mc-req-id`` to quote to Mimecast support.
    :param path: the request the error concerns (an answer to it, or its failure to get one); None for an
        error before any request, such as a setting. :func:`may_have_been_sent` reads it.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        path: str | None = None,
    ) -> None:
        self.http_status = status_code
        self.request_id = request_id
        self.path = path
        if request_id:
            message = f"{message} [x-mc-req-id: {request_id}]"
        super().__init__(message)


class MimecastConfigurationError(MimecastError, ValueError):
    """A connection setting or argument is missing or wrong; raised before any request is sent."""


class MimecastApiError(MimecastError):
    """Mimecast answered with a non-empty ``fail`` list (HTTP 200 included) or a 4xx it explained."""

    def __init__(
        self,
        message: str,
        *,
        failures: tuple[FailureDetail, ...] = (),
        status_code: int | None = None,
        request_id: str | None = None,
        path: str | None = None,
    ) -> None:
        self.failures = failures
        details = "; ".join(f.describe() for f in failures)
        super().__init__(
            f"{message}: {details}" if details else message,
            status_code=status_code,
            request_id=request_id,
            path=path,
        )

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.failures)


class MimecastAuthenticationError(MimecastApiError):
    """Mimecast refused the credentials (HTTP 401/403/418 or a signature error)."""


class MimecastTokenExpiredError(MimecastAuthenticationError):
    """The API 2.0 bearer token expired; the hook re-authenticates once and retries."""


class MimecastRateLimitError(MimecastApiError):
    """HTTP 429: the call was not executed. ``retry_after`` is Mimecast's ``X-RateLimit-Reset`` in seconds."""

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class MimecastServerError(MimecastApiError):
    """HTTP 5xx from Mimecast."""


class MimecastInvalidResponseError(MimecastError):
    """The answer was not a Mimecast envelope: proxy HTML, an empty body, malformed JSON, a missing field."""


class MimecastTransportError(MimecastError):
    """The request never got an HTTP answer: connection refused, DNS failure, timeout.

    ``request_sent`` is False only when the connection itself failed, i.e. the server cannot have acted.
    ``transient`` is False for failures that a retry cannot mend (a TLS handshake or certificate error).
    """

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool,
        request_id: str | None = None,
        transient: bool = True,
        path: str | None = None,
    ) -> None:
        self.request_sent = request_sent
        self.transient = transient
        super().__init__(message, request_id=request_id, path=path)


class MimecastUploadNotRetriedError(MimecastError, AirflowFailException):
    """An upload may have reached Mimecast without its answer saying so, and was deliberately not retried.

    Also an ``AirflowFailException``: the task fails without Airflow's own retry, which would upload again.
    """


class MimecastSyncGuardError(MimecastError, AirflowFailException):
    """The deletion guard refused an import that would remove more of its group's members than
    ``max_removals`` allows, or that could not be checked (the group's members could not be read). Nothing
    was sent. Also an ``AirflowFailException``: a retry would be refused the same way, so Airflow does not
    retry; approve the run (``max_removals``) and clear the task.
    """


class MimecastImportFailedError(MimecastError):
    """An import reached a state the caller treats as failure: an unknown status or a partial import."""


class MimecastMissingImportsError(MimecastInvalidResponseError):
    """get-import-status left out imports it was asked about (or reported one twice, differently), with no
    ``fail`` entry: their status was not seen. A status check raises it when they are still missing after it
    asked again once; a deferred wait asks again at each poll, and times out naming them at its deadline.

    ``import_ids`` names them; ``statuses`` holds what the answers did report, in the order asked.
    """

    def __init__(self, message: str, *, import_ids: tuple[str, ...], statuses: tuple[Any, ...] = ()) -> None:
        self.import_ids = import_ids
        self.statuses = statuses
        super().__init__(message)


class MimecastGroupLookupError(MimecastError, LookupError):
    """A directory group given by name matched no group, or several; the message lists the candidates."""


def is_transient(error: BaseException) -> bool:
    """Whether the same request may succeed later: a 429, a 5xx, a connection that failed or timed out, a
    ``fail`` entry Mimecast marks ``retryable``, an import the answer left out. Refused credentials, other
    4xx, non-retryable ``fail`` entries and answers that are not Mimecast's are definitive. (Whether a
    request is *safe* to repeat is another matter: :func:`may_have_been_sent`.) The hook's retries
    (``hooks/retry.py``), the triggerer's poller and every wait ask this.

    :param error: what the call raised, or what a batch answer said about one import.
    """
    if isinstance(error, MimecastRateLimitError | MimecastServerError | MimecastMissingImportsError):
        return True
    if isinstance(error, MimecastTransportError):
        return error.transient
    if isinstance(error, MimecastAuthenticationError):
        return False
    if isinstance(error, MimecastApiError):
        return bool(error.failures) and all(failure.retryable for failure in error.failures)
    return False


def may_have_been_sent(error: BaseException, *, path: str) -> bool:
    """Whether the request to ``path`` may have reached Mimecast before it failed with ``error``.

    False for an error of another request (the token request made for it) or of none (a setting), and for a
    connection that failed before the request left; True for anything else, whatever the answer said. The
    one rule behind both "may a retry send this call again?" and "may this upload have started an import?".

    :param error: what the call raised.
    :param path: the call's request path, e.g. ``/api/user/import-users``.
    """
    if isinstance(error, MimecastUploadNotRetriedError) or not isinstance(error, MimecastError):
        return (
            True  # it says so; or an interruption (a task's execution_timeout), which may come at any point
        )
    if error.path != path:
        return False
    return not (isinstance(error, MimecastTransportError) and not error.request_sent)


def certainly_not_executed(error: BaseException, *, path: str) -> bool:
    """Whether a call to ``path`` that failed with ``error`` certainly never reached Mimecast's API for
    that path, so that repeating it cannot act twice (a second upload would be a second import).

    True when the request cannot have been sent (:func:`may_have_been_sent`), after a 429 (Mimecast did not
    execute the call) and after Mimecast's own refusal (a 4xx or ``fail`` envelope). False for everything
    that may have been executed: a 5xx, a timeout or a connection lost once the request was sent, a 3xx or
    any answer that is not Mimecast's envelope, an answer that lacks what it should hold, and any exception
    that is not a :class:`MimecastError` (an interrupted task).

    :param error: what the call raised.
    :param path: the request path of the call, e.g. ``/api/user/import-users``.
    """
    if may_have_been_sent(error, path=path):
        return isinstance(error, MimecastApiError) and not isinstance(error, MimecastServerError)
    return True
