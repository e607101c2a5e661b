"""A listener beyond loopback needs TLS or --insecure, and `up` says what it exposes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alertflow.up.prefect_server import free_port
from alertflow.up.settings import UpSettings, is_loopback
from alertmodel.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.3.4.5", True), ("::1", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.0.2.7", False), ("sensor.example", False)])  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_needs_nothing_and_warns_of_nothing() -> None:
    assert UpSettings(host="127.0.0.1").exposure(insecure=False) == []


def test_a_network_address_without_tls_or_insecure_is_refused_with_both_ways_out() -> None:
    with pytest.raises(ConfigurationError) as refused:
        UpSettings(host="0.0.0.0").exposure(insecure=False)
    assert "ALERTFLOW_UP_HOST=0.0.0.0 is not a loopback address" in str(refused.value)
    assert "ALERTFLOW_UP_TLS_CERTFILE and ALERTFLOW_UP_TLS_KEYFILE" in str(refused.value)
    assert "--insecure" in str(refused.value)


def test_insecure_serves_both_listeners_on_the_network_with_a_warning() -> None:
    up = UpSettings(host="0.0.0.0", prefect_port=4300)
    [warning] = up.exposure(insecure=True)
    assert warning.startswith("WARNING: --insecure") and "in clear" in warning
    assert up.prefect_host == "0.0.0.0"
    assert up.prefect_api_url == "http://127.0.0.1:4300/api"


def test_tls_serves_ingest_over_https_and_keeps_prefect_on_loopback(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    up = UpSettings(host="192.0.2.7", ingest_port=8443, tls_certfile=cert, tls_keyfile=key)
    [warning] = up.exposure(insecure=False)
    assert "listens on 192.0.2.7:8443 (HTTPS)" in warning and "stay on 127.0.0.1" in warning
    assert up.prefect_host == "127.0.0.1"
    assert up.ingest_url == "https://192.0.2.7:8443/ingest"


def test_half_a_tls_setting_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="set both"):
        UpSettings(tls_certfile=tmp_path / "c.pem").exposure(insecure=False)
    with pytest.raises(ConfigurationError, match="does not exist"):
        UpSettings(tls_certfile=tmp_path / "c.pem", tls_keyfile=tmp_path / "k.pem").exposure(insecure=False)


def test_up_on_a_network_address_refuses_before_starting_anything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALERTFLOW_"))}
    env |= {
        "ALERTFLOW_DATA_DIR": str(tmp_path / "data"),
        "ALERTFLOW_UP_HOST": "0.0.0.0",
        "ALERTFLOW_UP_PREFECT_PORT": str(free_port()),
        "ALERTFLOW_UP_INGEST_PORT": str(free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-m", "alertflow", "up", "--no-ui"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "alertflow up failed: ALERTFLOW_UP_HOST=0.0.0.0 is not a loopback address" in result.stdout
    assert not (tmp_path / "data").exists()
