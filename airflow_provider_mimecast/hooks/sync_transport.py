"""The sync transport: blocking sends over one pooled ``requests.Session``, each bounded as a whole by the
watchdog of :mod:`._deadline`.

``requests`` is what Airflow's HTTP provider uses, so ``REQUESTS_CA_BUNDLE`` and the proxy variables apply
as they do there. This module, requests and urllib3 are imported only when a sync call is made: a
triggerer, which makes async calls only, imports the trigger inside its event loop.
"""

from __future__ import annotations

import http.client

import requests
import urllib3.exceptions

from airflow_provider_mimecast.hooks._deadline import Deadline, DeadlineAdapter
from airflow_provider_mimecast.hooks.calls import ApiRequest, ApiResponse
from airflow_provider_mimecast.hooks.transport import (
    GRACE_SECONDS,
    TLS_HINT,
    ClientErrors,
    checked_verify,
    transport_error,
)

REQUESTS_ERRORS = ClientErrors(
    # urllib3's NewConnectionError (refused, DNS) derives from ConnectTimeoutError.
    not_connected=(urllib3.exceptions.ConnectTimeoutError,),
    connect_timeouts=(TimeoutError,),
    unsendable=(
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidHeader,
        urllib3.exceptions.LocationValueError,
    ),
    timeouts=(TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError),
)
#: What requests raises for a failed exchange; anything else is a bug and is left to surface.
_SYNC_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class SyncTransport:
    """Blocking sends over one pooled ``requests.Session``.

    :param timeout: seconds for the whole request and answer.
    :param verify: TLS verification: True (the default CA bundle, or ``REQUESTS_CA_BUNDLE`` /
        ``CURL_CA_BUNDLE``), False (none), or the path of a CA bundle, which wins over the environment.
    :param tls_hint: what a TLS failure's message tells the user to check.
    """

    def __init__(self, timeout: float, *, verify: bool | str = True, tls_hint: str = TLS_HINT) -> None:
        self.timeout = timeout
        self.tls_hint = tls_hint
        self._verify = checked_verify(verify)
        self._session = requests.Session()
        adapter = DeadlineAdapter()
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def send(self, request: ApiRequest) -> ApiResponse:
        # Prepared outside the session, which would add ~/.netrc credentials over ours and replay cookies;
        # the environment's CA bundle and proxies are merged in explicitly, as Airflow's HttpHook does.
        deadline = Deadline(self.timeout + GRACE_SECONDS)
        try:
            prepared = requests.Request(
                "POST", request.url, headers={**self._session.headers, **request.headers}, data=request.body
            ).prepare()
            options = self._session.merge_environment_settings(
                prepared.url or "", {}, False, self._verify, None
            )
            if options["verify"] != self._verify:  # a bad bundle would otherwise fail every retry alike
                checked_verify(options["verify"], "REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE)")
            with deadline:
                response = self._session.send(
                    prepared, allow_redirects=False, timeout=(self.timeout, self.timeout), **options
                )
            if deadline.expired:  # the shutdown may have cut a body that had no length short
                raise TimeoutError
        except _SYNC_ERRORS as error:
            raise transport_error(
                request,
                error,
                client=REQUESTS_ERRORS,
                timeout=self.timeout,
                expired=deadline.expired,
                proven_unsent=deadline.proven_unsent,
                tls_hint=self.tls_hint,
            ) from None
        return ApiResponse(
            response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content
        )

    def close(self) -> None:
        self._session.close()
