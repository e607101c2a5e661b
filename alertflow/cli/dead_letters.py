"""`alertflow dead-letters …`: see what ingest could not read, and store it again after a fix."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer
from sqlalchemy import select

from alertflow.api import audit
from alertflow.cli.common import open_engine
from alertmodel import DeadLetter
from alertmodel.settings import get_settings
from ingest.reingest import ReingestRefused, reingest_dead_letter
from ingest.store import StoredSizes
from response.outbox_writer import ResponseHook

app = typer.Typer(help="Input ingest set aside, kept byte for byte with the reason.", no_args_is_help=True)
_DEAD = DeadLetter.__table__


@app.command("list")
def list_(
    source: str | None = typer.Option(None, help="Only this source (suricata, wazuh, auto, ...)."),
    pending: bool = typer.Option(False, "--pending", help="Only those not re-ingested yet."),
    limit: int = typer.Option(50, min=1),
) -> None:
    """Dead letters, newest first: id, received, source, reingested, reason."""
    query = select(_DEAD.c.id, _DEAD.c.received_at, _DEAD.c.source, _DEAD.c.reingested_at, _DEAD.c.reason)
    query = query.order_by(_DEAD.c.id.desc()).limit(limit)
    if source is not None:
        query = query.where(_DEAD.c.source == source)
    if pending:
        query = query.where(_DEAD.c.reingested_at.is_(None))
    with open_engine().connect() as conn:
        for r in conn.execute(query):
            done = "reingested" if r.reingested_at else "-"
            typer.echo(f"{r.id}\t{r.received_at.isoformat()}\t{r.source}\t{done}\t{r.reason}")


@app.command("show")
def show(dead_letter_id: int) -> None:
    """The reason on stderr and the bytes that arrived, unchanged, on stdout."""
    with open_engine().connect() as conn:
        row = conn.execute(select(_DEAD).where(_DEAD.c.id == dead_letter_id)).first()
    if row is None:
        typer.echo(f"error: no dead letter {dead_letter_id}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"{row.source} from {row.origin or '-'} at {row.received_at.isoformat()}: {row.reason}", err=True
    )
    sys.stdout.buffer.write(row.raw + b"\n")


@app.command("reingest")
def reingest(
    dead_letter_id: int,
    node: str | None = typer.Option(
        None, help="Collector node whose active policy applies; default ALERTFLOW_NODE."
    ),
    content: Path | None = typer.Option(
        None,
        exists=True,
        dir_okay=False,
        help="A file with the corrected event, stored instead of the kept bytes.",
    ),
) -> None:
    """Store a dead letter again through the ingest path (policy, response profiles); it is kept, marked."""
    settings = get_settings()
    engine = open_engine()
    actor = f"cli:{getpass.getuser()}"
    try:
        done = reingest_dead_letter(
            engine,
            dead_letter_id,
            actor=actor,
            node=node or settings.node,
            content=content.read_bytes() if content else None,
            batch_hooks=[ResponseHook()],
            sizes=StoredSizes(settings.json_event_max_bytes, settings.dead_letter_max_bytes),
        )
    except ReingestRefused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    audit.record_now(
        engine,
        actor=actor,
        action="dead_letter.reingest",
        target=f"dead-letter/{dead_letter_id}",
        before={"reingested_at": None},
        after={
            "node": node or settings.node,
            "corrected": content is not None,
            "alert_uuids": done.alert_uuids,
        },
    )
    typer.echo(
        f"dead letter {dead_letter_id}: {done.stored} stored, {done.duplicates} already stored"
        + (f" ({', '.join(done.alert_uuids)})" if done.alert_uuids else " (the policy dropped it)")
    )
