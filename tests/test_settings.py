from __future__ import annotations

import pytest

from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.settings import AuthType, MimecastSettings, normalize_base_url

SECRET_KEY = "dGVzdC1zZWNyZXQta2V5LWJ5dGVz"


def settings(**overrides):
    fields = {"host": None, "login": "client-id", "password": "client-secret-value", "extra": {}}
    fields.update(overrides)
    return MimecastSettings.from_connection_fields(**fields)


def test_defaults_are_api2_global_with_timeout_and_retries():
    result = settings()
    assert result.base_url == "https://api.services.mimecast.com"
    assert (result.auth_type, result.timeout, result.max_retries) == (AuthType.OAUTH2, 30.0, 5)


def test_hmac_needs_app_id_app_key_and_a_base64_secret():
    extra = {"auth_type": "hmac", "app_id": "app", "app_key": "app-key-value"}
    assert settings(password=SECRET_KEY, extra=extra).auth_type is AuthType.HMAC
    with pytest.raises(MimecastConfigurationError, match="'app_key' is required when auth_type is 'hmac'"):
        settings(password=SECRET_KEY, extra={"auth_type": "hmac", "app_id": "app"})
    with pytest.raises(MimecastConfigurationError, match="secret key\\) is not valid Base64") as caught:
        settings(password="%%%not-base64%%%", extra=extra)
    assert "%%%not-base64%%%" not in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"extra": {"auth_type": "basic"}}, "'auth_type' is 'basic'; use 'oauth2'"),
        ({"login": ""}, "login is empty: set it to the client ID"),
        ({"password": None}, "password is empty: set it to the client secret"),
        ({"extra": {"timeout": "soon"}}, "'timeout' is 'soon'"),
        ({"extra": {"max_retries": -1}}, "'max_retries' is -1"),
        ({"host": "http://eu-api.mimecast.com"}, "plain http"),
        ({"host": "https://eu-api.mimecast.com/api/user"}, "has a path"),
    ],
)
def test_bad_settings_name_the_field(overrides, message):
    with pytest.raises(MimecastConfigurationError, match=message):
        settings(**overrides)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("http://127.0.0.1:8025", "http://127.0.0.1:8025"),
        ("http://localhost:9/", "http://localhost:9"),
        ("http://[::1]:80", "http://[::1]:80"),
        ("eu-api.mimecast.com", "https://eu-api.mimecast.com"),
        ("https://us-api.services.mimecast.com/", "https://us-api.services.mimecast.com"),
    ],
)
def test_base_urls(host, expected):
    assert normalize_base_url(host) == expected


def test_secrets_stay_out_of_repr():
    extra = {"auth_type": "hmac", "app_id": "app", "app_key": "app-key-value"}
    text = repr(settings(password=SECRET_KEY, extra=extra))
    assert SECRET_KEY not in text and "app-key-value" not in text
