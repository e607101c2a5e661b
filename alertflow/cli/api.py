"""`alertflow api`: serve the REST API on the configured alert store."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from pydantic import SecretStr

from alertflow.up.prefect_address import PrefectAddress
from alertmodel import migrate
from alertmodel.engine import make_engine
from alertmodel.settings import get_settings, mask_url


def api(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8181, min=1, max=65535, help="TCP port."),
    tls_cert: Path | None = typer.Option(None, exists=True, dir_okay=False, help="PEM certificate (chain)."),
    tls_key: Path | None = typer.Option(None, exists=True, dir_okay=False, help="PEM private key."),
    insecure: bool = typer.Option(
        False, "--insecure", help="Allow plain HTTP on a non-loopback address (credentials in clear)."
    ),
    console_idle_minutes: int = typer.Option(
        30, min=1, max=24 * 60, help="A console session ends after this many minutes without a request."
    ),
) -> None:
    """Serve the REST API (alerts, incidents, users, audit) and the console at / until Ctrl-C."""
    import uvicorn  # FastAPI and uvicorn load only for this command

    from alertflow.api.app import create_app
    from alertflow.api.server import bind_warning, uvicorn_config

    try:
        warning = bind_warning(host, tls=tls_cert is not None, insecure=insecure)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--host") from None
    if warning:
        typer.secho(f"WARNING: {warning}", err=True, fg="yellow")
    url = get_settings().resolved_database_url
    if migrate.current(url) != migrate.head():
        typer.echo(f"{mask_url(url)} is not at the newest schema; run `alertflow db upgrade` first", err=True)
        raise typer.Exit(2)
    engine = make_engine(url)
    app = create_app(
        engine,
        prefect_ui_url=_prefect_ui_url(),
        prefect=_prefect_address(),
        console_idle_s=console_idle_minutes * 60,
    )
    try:
        config = uvicorn_config(app, host, port, tls_cert=tls_cert, tls_key=tls_key)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tls-cert/--tls-key") from None
    try:
        uvicorn.Server(config).run()
    finally:
        engine.dispose()


def _prefect_ui_url() -> str | None:
    """PREFECT_UI_URL, or the UI beside PREFECT_API_URL (the server serves both)."""
    if ui := os.environ.get("PREFECT_UI_URL"):
        return ui
    api_url = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    return api_url.removesuffix("/api") if api_url.endswith("/api") else None


def _prefect_address() -> PrefectAddress | None:
    """PREFECT_API_URL's server (`alertflow up` sets it for the API): playbook runs and blocks come from it."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return None
    auth = PREFECT_API_AUTH_STRING.value()
    secret = auth.get_secret_value() if isinstance(auth, SecretStr) else auth
    return PrefectAddress(url.rstrip("/"), SecretStr(secret) if secret else None, "PREFECT_API_URL")
