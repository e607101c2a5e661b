"""`alertflow users …`: API users, their roles and tenants, and personal API tokens."""

from __future__ import annotations

import getpass
import sys
from datetime import timedelta

import typer

from alertflow.api import accounts
from alertflow.cli.common import fail_on, open_engine

app = typer.Typer(help="Users of the REST API, their roles, tenants and API tokens.", no_args_is_help=True)
tokens = typer.Typer(help="Personal API tokens (shown once, stored hashed).", no_args_is_help=True)
app.add_typer(tokens, name="token")

PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of standard input."
)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("add")
def add(
    name: str,
    role: str = typer.Option(..., help="viewer, analyst or admin."),
    tenant: list[str] = typer.Option(
        [], "--tenant", help="A ref_id this user sees (repeatable; none = all)."
    ),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Create user NAME with ROLE, limited to the given tenants."""
    password = _password(password_stdin)
    with fail_on(accounts.AccountError):
        user = accounts.add_user(
            open_engine(), name, role=role, password=password, tenants=tenant, actor=_actor()
        )
    typer.echo(f"user {user['name']} added ({user['role']}, tenants: {', '.join(user['tenants']) or 'all'})")


@app.command("list")
def list_() -> None:
    """Every user: name, role, tenants, state and live tokens."""
    for u in accounts.list_users(open_engine()):
        state = "disabled" if u["disabled"] else "enabled"
        typer.echo(
            f"{u['name']}\t{u['role']}\t{','.join(u['tenants']) or '*'}\t{state}\t{u['tokens']} tokens"
        )


@app.command("disable")
def disable(name: str) -> None:
    """Refuse every sign-in of NAME (password and tokens) until `users enable`."""
    with fail_on(accounts.AccountError):
        accounts.update_user(open_engine(), name, disabled=True, actor=_actor())
    typer.echo(f"user {name} disabled")


@app.command("enable")
def enable(name: str) -> None:
    """Let NAME sign in again."""
    with fail_on(accounts.AccountError):
        accounts.update_user(open_engine(), name, disabled=False, actor=_actor())
    typer.echo(f"user {name} enabled")


@app.command("passwd")
def passwd(name: str, password_stdin: bool = PASSWORD_STDIN) -> None:
    """Set a new password for NAME."""
    password = _password(password_stdin)
    with fail_on(accounts.AccountError):
        accounts.update_user(open_engine(), name, password=password, actor=_actor())
    typer.echo(f"password of {name} changed")


@tokens.command("create")
def token_create(
    user: str,
    name: str = typer.Option("", "--name", help="A label, e.g. what the token is for."),
    expires_days: int | None = typer.Option(90, min=1, help="Days until it expires."),
    no_expiry: bool = typer.Option(False, "--no-expiry", help="A token that never expires."),
) -> None:
    """Create a token for USER and print it once (only its hash is kept)."""
    expires_in = None if no_expiry or expires_days is None else timedelta(days=expires_days)
    with fail_on(accounts.AccountError):
        issued = accounts.create_token(open_engine(), user, name=name, expires_in=expires_in, actor=_actor())
    expiry = issued.expires_at.isoformat() if issued.expires_at else "never"
    typer.echo(f"token {issued.id} for {user}, expires {expiry}; it is shown only now:", err=True)
    typer.echo(issued.secret)


@tokens.command("list")
def token_list(user: str) -> None:
    """USER's tokens: id, name, created, expires, revoked."""
    with fail_on(accounts.AccountError):
        rows = accounts.list_tokens(open_engine(), user)
    for t in rows:
        expires = t["expires_at"].isoformat() if t["expires_at"] else "never"
        revoked = t["revoked_at"].isoformat() if t["revoked_at"] else "-"
        typer.echo(f"{t['id']}\t{t['name'] or '-'}\t{t['created_at'].isoformat()}\t{expires}\t{revoked}")


@tokens.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID at once."""
    with fail_on(accounts.AccountError):
        accounts.revoke_token(open_engine(), token_id, actor=_actor())
    typer.echo(f"token {token_id} revoked")
