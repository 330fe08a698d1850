"""Redacting secrets from echoed text, without a network."""

from __future__ import annotations

from airflow_provider_mimecast.redaction import excerpt, redact

CLIENT_SECRET = "s3cr+t/val=ue"


def test_redact_covers_raw_url_encoded_json_and_html_forms():
    text = (
        f"raw {CLIENT_SECRET} form client_id=abc&client_secret=s3cr%2Bt%2Fval%3Due lower s3cr%2bt%2fval%3due "
        'json "s3cr+t\\/val=ue" html s3cr+t/val=ue'
    )
    cleaned = redact(text, [CLIENT_SECRET, ""])
    assert "s3cr" not in cleaned and cleaned.count("***") == 5


def test_redact_hides_credential_shapes_it_was_not_told_about():
    cleaned = redact(
        "Authorization: Bearer unknown-token-123 x-mc: MC key1:c2lnbmF0dXJl client_secret=abc123&x=1", []
    )
    assert "unknown-token-123" not in cleaned and "c2lnbmF0dXJl" not in cleaned and "abc123" not in cleaned
    assert "&x=1" in cleaned and "Bearer ***" in cleaned


def test_a_secret_straddling_the_excerpt_cut_does_not_leak_a_prefix():
    body = b"x" * 190 + CLIENT_SECRET.encode()
    assert "s3cr" not in excerpt(body, secrets=[CLIENT_SECRET])
