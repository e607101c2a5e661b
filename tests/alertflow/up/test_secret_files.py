from __future__ import annotations

import stat
from pathlib import Path

import pytest

from alertflow.up.secret_files import AUTH_FILE, INGEST_TOKEN_FILE, ensure_auth_string, ensure_ingest_token
from alertmodel.errors import ConfigurationError


def test_the_auth_string_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    first = ensure_auth_string(tmp_path / "data")
    user, _, password = first.partition(":")
    assert user == "alertflow" and len(password) >= 30
    assert stat.S_IMODE((tmp_path / "data" / AUTH_FILE).stat().st_mode) == 0o600
    assert ensure_auth_string(tmp_path / "data") == first


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    ensure_ingest_token(tmp_path)
    (tmp_path / INGEST_TOKEN_FILE).chmod(0o644)
    with pytest.raises(ConfigurationError, match=r"readable by other users \(mode 644\); run `chmod 600"):
        ensure_ingest_token(tmp_path)


def test_an_auth_file_without_a_colon_is_refused(tmp_path: Path) -> None:
    path = tmp_path / AUTH_FILE
    path.write_text("justapassword\n")
    path.chmod(0o600)
    with pytest.raises(ConfigurationError, match="must hold user:password"):
        ensure_auth_string(tmp_path)
