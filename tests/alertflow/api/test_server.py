"""`alertflow api`: loopback by default, TLS or an explicit --insecure anywhere else."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from alertflow.api.server import bind_warning, is_loopback
from alertflow.up.prefect_server import free_port
from alertmodel import migrate
from tests.tls_files import self_signed


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_addresses_need_neither_tls_nor_insecure(host: str) -> None:
    assert is_loopback(host)
    assert bind_warning(host, tls=False, insecure=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "api.example.org"])
def test_other_addresses_without_tls_are_refused_unless_insecure(host: str) -> None:
    with pytest.raises(ValueError, match="--insecure"):
        bind_warning(host, tls=False, insecure=False)
    warning = bind_warning(host, tls=False, insecure=True)
    assert warning is not None and "unencrypted" in warning
    assert bind_warning(host, tls=True, insecure=False) is None


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "alertflow", "api", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "ALERTFLOW_DATABASE_URL": url, "DO_NOT_TRACK": "1"}


def test_the_command_refuses_a_public_address_without_tls(sqlite_database: str) -> None:
    migrate.upgrade(sqlite_database)
    proc = _cli("--host", "0.0.0.0", "--port", str(free_port()), env=_env(sqlite_database))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "--insecure" in err


def test_the_command_refuses_a_store_that_is_not_migrated(sqlite_database: str) -> None:
    proc = _cli("--port", str(free_port()), env=_env(sqlite_database))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "alertflow db upgrade" in err


def _wait_for(url: str, proc: subprocess.Popen[str], verify: ssl.SSLContext) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(
                f"alertflow api exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        try:
            return httpx.get(url, verify=verify, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_command_serves_https_with_the_given_certificate(sqlite_database: str, tmp_path: Path) -> None:
    migrate.upgrade(sqlite_database)
    cert, key = self_signed(tmp_path)
    port = free_port()
    proc = _cli(
        "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key), env=_env(sqlite_database)
    )
    try:
        response = _wait_for(
            f"https://127.0.0.1:{port}/api/v1/health",
            proc,
            verify=ssl.create_default_context(cafile=str(cert)),
        )
        assert response.status_code in (200, 401)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
