"""`alertflow outbox …`: see and retry the actions waiting to be performed."""

from __future__ import annotations

import typer

from alertflow.cli.common import open_engine
from response.dispatcher import count_outbox, list_outbox, retry_failed

app = typer.Typer(help="The transactional outbox of response actions.", no_args_is_help=True)


@app.command("list")
def list_(
    failed: bool = typer.Option(False, "--failed", help="Only rows that failed after their last attempt."),
    state: str | None = typer.Option(None, help="Only rows in this state: pending, done or failed."),
    limit: int = typer.Option(50, min=1),
) -> None:
    """Outbox rows, newest first: id, state, kind, attempts, key, last error."""
    engine = open_engine()
    rows = list_outbox(engine, state="failed" if failed else state, limit=limit)
    for row in rows:
        error = f"\t{row.last_error}" if row.last_error else ""
        typer.echo(f"{row.id}\t{row.state}\t{row.kind}\t{row.attempts}\t{row.key}{error}")
    counts = count_outbox(engine)
    typer.echo(
        ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "outbox is empty", err=True
    )


@app.command("retry")
def retry(
    ids: list[int] | None = typer.Argument(None, help="Row ids; all failed rows when omitted."),
) -> None:
    """Make failed rows due again, with a fresh attempt count."""
    n = retry_failed(open_engine(), ids or None)
    typer.echo(f"{n} failed rows are pending again")
