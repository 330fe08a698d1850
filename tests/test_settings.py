from __future__ import annotations

import random

import httpx
import pytest
import requests

from airflow_provider_mimecast.base_url import parse_base_url
from airflow_provider_mimecast.errors import MimecastConfigurationError
from airflow_provider_mimecast.settings import AuthType, MimecastSettings

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
    assert parse_base_url(host)[0] == expected


def test_secrets_stay_out_of_repr():
    extra = {"auth_type": "hmac", "app_id": "app", "app_key": "app-key-value"}
    text = repr(settings(password=SECRET_KEY, extra=extra))
    assert SECRET_KEY not in text and "app-key-value" not in text


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), "inf", "nan", 0, -1, "0", True, [30]])
def test_timeout_must_be_positive_and_finite(timeout):
    with pytest.raises(MimecastConfigurationError, match=r"'timeout' is .*positive number of seconds"):
        settings(extra={"timeout": timeout})


@pytest.mark.parametrize(
    "value", [999999999999, 2.7, "2.7", 21, -1, "-1", "3 retries", "²", float("nan"), False]
)
def test_max_retries_must_be_a_small_whole_number(value):
    with pytest.raises(MimecastConfigurationError, match=r"'max_retries' is .*whole number from 0 to 20"):
        settings(extra={"max_retries": value})


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (" 7 ", 7), (0, 0), (20, 20), (4.0, 4)])
def test_max_retries_from_uri_strings_and_json_numbers(value, expected):
    assert settings(extra={"max_retries": value}).max_retries == expected


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("https://host:abc", "port is not a number"),
        ("https://host:99999", "port is not a number"),
        ("https://host:0", "port is not a number"),
        ("http://[::1", "closing ']'"),
        ("https://ex℀ample.com", "characters"),
        ("https://exa mple.com", "characters"),
        ("https://999.1.1.1", "IPv4 address is not valid"),
        ("https://bü\u200dcher.de", "not valid IDNA"),
        ("ftp://eu-api.mimecast.com", "not a base URL"),
        ("https://eu-api.mimecast.com/#frag", "has a path"),
    ],
)
def test_hosts_the_http_clients_would_reject_are_configuration_errors(host, message):
    with pytest.raises(MimecastConfigurationError, match=message):
        settings(host=host)


@pytest.mark.parametrize(
    "host",
    [
        "https://user:hunter2pw@eu-api.mimecast.com",
        "user:hunter2pw@eu-api.mimecast.com",
        "https://:hunter2pw@h:x",
    ],
)
def test_user_info_in_the_url_is_refused_without_quoting_the_password(host):
    with pytest.raises(MimecastConfigurationError, match="user info") as caught:
        settings(host=host)
    assert "hunter2pw" not in str(caught.value) and "***@" in str(caught.value)


def test_international_host_names_are_accepted():
    assert settings(host="https://bücher.example").base_url == "https://bücher.example"


@pytest.mark.parametrize("value", ["OAuth2", " HMAC ", "oauth2", "Hmac"])
def test_auth_type_is_read_in_any_case(value):
    extra = {"auth_type": value, "app_id": "app", "app_key": "app-key-value"}
    assert settings(password=SECRET_KEY, extra=extra).auth_type.value == value.strip().lower()


def test_extra_must_be_an_object():
    with pytest.raises(MimecastConfigurationError, match="extra is a JSON list"):
        settings(extra=["timeout", 5])


def test_new_fields_have_defaults():
    result = settings()
    assert (result.verify, result.max_rate_limit_wait, result.status_batch_size) == (True, 300.0, 10)
    assert result.scheme_assumed is False


@pytest.mark.parametrize(
    ("value", "expected"), [(False, False), ("false", False), ("False", False), ("true", True), (True, True)]
)
def test_verify_is_a_boolean_from_json_or_uri_strings(value, expected):
    assert settings(extra={"verify": value}).verify is expected


def test_verify_takes_an_existing_ca_bundle_path(tmp_path):
    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert settings(extra={"verify": str(bundle)}).verify == str(bundle)
    with pytest.raises(MimecastConfigurationError, match=r"'verify' is .*existing CA bundle"):
        settings(extra={"verify": str(tmp_path / "missing.pem")})
    with pytest.raises(MimecastConfigurationError, match="'verify' is 3"):
        settings(extra={"verify": 3})


@pytest.mark.parametrize(("value", "expected"), [(60, 60.0), ("0.5", 0.5)])
def test_max_rate_limit_wait(value, expected):
    assert settings(extra={"max_rate_limit_wait": value}).max_rate_limit_wait == expected


@pytest.mark.parametrize("value", [0, -5, float("inf"), "nan", "soon"])
def test_max_rate_limit_wait_must_be_positive_and_finite(value):
    with pytest.raises(MimecastConfigurationError, match="'max_rate_limit_wait' is"):
        settings(extra={"max_rate_limit_wait": value})


@pytest.mark.parametrize(
    ("value", "ok"), [(1, True), ("1000", True), (0, False), (1001, False), (2.5, False)]
)
def test_status_batch_size_is_1_to_1000(value, ok):
    if ok:
        assert settings(extra={"status_batch_size": value}).status_batch_size == int(value)
    else:
        with pytest.raises(MimecastConfigurationError, match=r"'status_batch_size' is .*from 1 to 1000"):
            settings(extra={"status_batch_size": value})


@pytest.mark.parametrize(("value", "expected"), [(None, 0.2), (0, 0.0), ("0.35", 0.35), (0.999, 0.999)])
def test_rate_limit_reserve_is_a_fraction_of_the_limit(value, expected):
    extra = {} if value is None else {"rate_limit_reserve": value}
    assert settings(extra=extra).rate_limit_reserve == expected


@pytest.mark.parametrize("value", [1, 20, -0.1, "nan", "a fifth", True])
def test_rate_limit_reserve_outside_0_to_1_names_the_field_and_the_fix(value):
    with pytest.raises(
        MimecastConfigurationError, match=r"'rate_limit_reserve' is .*from 0 to below 1, e\.g\. 0\.2"
    ):
        settings(extra={"rate_limit_reserve": value})


def test_a_loopback_host_without_scheme_stays_https_with_a_hint():
    result = settings(host="127.0.0.1:8025")
    assert result.base_url == "https://127.0.0.1:8025" and result.scheme_assumed
    assert "http://127.0.0.1:8025" in result.tls_hint()
    assert "CA bundle" in settings(host="https://eu-api.mimecast.com").tls_hint()
    assert "CA bundle" in settings(host="eu-api.mimecast.com").tls_hint()


def test_random_hosts_give_only_configuration_errors():
    rng = random.Random(8)
    alphabet = "ab1:/@[]%.-_ \u2100\u00fc\x00?#"
    for _ in range(3000):
        host = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        for candidate in (host, "https://" + host, "http://" + host):
            try:
                base_url, _ = parse_base_url(candidate)
            except MimecastConfigurationError:
                continue
            # What settings accept, both HTTP clients accept too (no InvalidURL at the first request).
            httpx.URL(base_url + "/api/user/get-import-status")
            requests.Request("POST", base_url + "/api/user/get-import-status").prepare()
