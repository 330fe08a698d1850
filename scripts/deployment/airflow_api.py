"""Airflow's REST API (v2) over urllib, authenticated as the simple auth manager's all-admins user."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AirflowApi:
    """The api-server at ``base_url``, e.g. ``http://127.0.0.1:8080``.

    :param base_url: the api-server's URL.
    :param timeout: seconds per request.
    """

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token: str | None = None

    def _send(self, method: str, path: str, body: Any = None, *, token: bool = True) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            raise ApiError(error.code, f"{method} {path}: HTTP {error.code}: {detail}") from None
        return json.loads(payload) if payload else None

    def token(self) -> str:
        """A JWT from ``GET /auth/token``, which needs no credentials with ``simple_auth_manager_all_admins``."""
        if self._token is None:
            self._token = self._send("GET", "/auth/token", token=False)["access_token"]
        assert self._token is not None
        return self._token

    def get(self, path: str, **query: Any) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode(query, doseq=True)
        return self._send("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self._send("POST", path, body)

    def patch(self, path: str, body: Any, **query: Any) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode(query, doseq=True)
        return self._send("PATCH", path, body)

    def health(self) -> dict[str, Any] | None:
        """``/api/v2/monitor/health``, or None while the api-server does not answer."""
        try:
            result: dict[str, Any] = self._send("GET", "/api/v2/monitor/health", token=False)
        except (OSError, ApiError):
            return None
        return result
