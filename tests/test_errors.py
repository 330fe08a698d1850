"""Which failed calls may have reached Mimecast (the rule behind retries and the upload's retry record), and
which failures are transient."""

from __future__ import annotations

import pytest

from airflow_provider_mimecast.endpoints import IMPORT_USERS, TOKEN
from airflow_provider_mimecast.errors import (
    FailureDetail,
    MimecastApiError,
    MimecastAuthenticationError,
    MimecastConfigurationError,
    MimecastInvalidResponseError,
    MimecastMissingImportsError,
    MimecastRateLimitError,
    MimecastServerError,
    MimecastTransportError,
    MimecastUploadNotRetriedError,
    certainly_not_executed,
    is_transient,
    may_have_been_sent,
)

UPLOAD = IMPORT_USERS.path


@pytest.mark.parametrize(
    ("error", "sent", "never_executed"),
    [
        # Before the upload was sent: a setting, the token request, a refused connection.
        (MimecastConfigurationError("bad host"), False, True),
        (MimecastServerError("503", path=TOKEN.path), False, True),
        (MimecastInvalidResponseError("no access_token", path=TOKEN.path), False, True),
        (MimecastTransportError("refused", request_sent=False, path=UPLOAD), False, True),
        # Sent, and Mimecast said it did not act: a 429, a refusal it explained.
        (MimecastRateLimitError("429", retry_after=1, path=UPLOAD), True, True),
        (MimecastAuthenticationError("403", path=UPLOAD), True, True),
        (MimecastApiError("err_group_not_found", path=UPLOAD), True, True),
        # It may have acted.
        (MimecastServerError("500", path=UPLOAD), True, False),
        (MimecastTransportError("ReadTimeout", request_sent=True, path=UPLOAD), True, False),
        (MimecastInvalidResponseError("a 302", path=UPLOAD), True, False),
        (MimecastUploadNotRetriedError("maybe", path=UPLOAD), True, False),
        (MimecastUploadNotRetriedError("an earlier try may have uploaded"), True, False),
        (TimeoutError("execution_timeout"), True, False),
    ],
)
def test_only_uploads_that_certainly_never_reached_mimecast_count_as_not_executed(
    error, sent, never_executed
):
    assert may_have_been_sent(error, path=UPLOAD) is sent
    assert certainly_not_executed(error, path=UPLOAD) is never_executed


def test_the_request_an_error_concerns_is_given_when_it_is_built():
    error = MimecastRateLimitError("429", retry_after=1, status_code=429, request_id="r-1", path=UPLOAD)
    assert (error.path, error.http_status, error.request_id) == (UPLOAD, 429, "r-1")
    assert MimecastConfigurationError("bad host").path is None


RETRYABLE = FailureDetail("err_busy", "later", retryable=True)
FINAL = FailureDetail("err_import_not_found", "gone", retryable=False)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (MimecastRateLimitError("429", retry_after=0), True),
        (MimecastServerError("503"), True),
        (MimecastTransportError("refused", request_sent=False), True),
        (MimecastTransportError("TLS", request_sent=False, transient=False), False),
        (MimecastMissingImportsError("left out", import_ids=("a",)), True),
        (MimecastApiError("fail", failures=(RETRYABLE,)), True),
        (MimecastApiError("fail", failures=(RETRYABLE, FINAL)), False),
        (MimecastApiError("fail", failures=()), False),
        (MimecastAuthenticationError("refused", failures=(RETRYABLE,)), False),
        (MimecastInvalidResponseError("proxy page"), False),
        (MimecastConfigurationError("bad host"), False),
    ],
)
def test_which_failures_are_transient(error, transient):
    assert is_transient(error) is transient
