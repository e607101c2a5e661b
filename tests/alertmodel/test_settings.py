"""Settings from ALERTFLOW_* variables: the ingest token rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alertmodel.settings import Settings

SHORT = "only-20-bytes-token!"


def test_an_ingest_token_shorter_than_32_bytes_is_refused_with_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALERTFLOW_INGEST_TOKEN", SHORT)
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = str(refused.value)
    assert "ALERTFLOW_INGEST_TOKEN is 20 bytes long; it must be at least 32" in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in message
    assert SHORT not in message


def test_a_32_byte_ingest_token_is_accepted_and_an_empty_one_means_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALERTFLOW_INGEST_TOKEN", "t" * 32)
    token = Settings().ingest_token
    assert token is not None and token.get_secret_value() == "t" * 32
    monkeypatch.setenv("ALERTFLOW_INGEST_TOKEN", "")
    assert Settings().ingest_token is None
