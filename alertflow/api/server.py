"""Serve the API with uvicorn: loopback by default, TLS or an explicit `--insecure` anywhere else."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import uvicorn
from fastapi import FastAPI


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_warning(host: str, *, tls: bool, insecure: bool) -> str | None:
    """A warning to print for this bind, or None; ValueError when it is refused.

    Passwords and tokens travel in every request, so plain HTTP is for loopback unless the
    operator says `--insecure` on purpose.
    """
    if tls or is_loopback(host):
        return None
    if not insecure:
        raise ValueError(
            f"{host} is not a loopback address: serve it with --tls-cert/--tls-key, "
            "or pass --insecure to send passwords in clear text"
        )
    return f"serving plain HTTP on {host}: passwords and API tokens cross the network unencrypted"


def uvicorn_config(
    app: FastAPI, host: str, port: int, *, tls_cert: Path | None = None, tls_key: Path | None = None
) -> uvicorn.Config:
    """The uvicorn configuration; both TLS files or neither."""
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        server_header=False,
        proxy_headers=False,
        log_level="info",
        access_log=True,
    )
