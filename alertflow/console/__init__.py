"""The analyst console: server-rendered pages on the API's own queries, served by the API's process at `/`."""

from __future__ import annotations

from fastapi import FastAPI

from alertflow.console import admin, alert_actions, incident_actions, pages
from alertflow.console.headers import SecurityHeaders
from alertflow.console.sessions import IDLE_S, SessionStore


def mount(app: FastAPI, *, idle_s: float = IDLE_S) -> None:
    """Serve the console from `app`: its pages, assets, sessions and security headers."""
    app.state.console_sessions = SessionStore(idle_s=idle_s)
    app.include_router(alert_actions.router)
    app.include_router(incident_actions.router)
    app.include_router(pages.router)
    app.include_router(admin.router)
    app.add_exception_handler(pages.ConsoleError, pages.show_error)
    app.add_exception_handler(pages.SignInRequired, pages.to_sign_in)
    app.add_middleware(SecurityHeaders)
