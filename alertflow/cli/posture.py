"""`alertflow posture …`: the posture findings per host and check, their reports, confirming them."""

from __future__ import annotations

import getpass

import typer
from sqlmodel import Session

from alertflow.cli.common import open_engine
from alertmodel.posture import (
    REPORT_TYPES,
    confirm_findings,
    list_findings,
    report_findings,
    report_history,
)

app = typer.Typer(
    help="Posture findings (OpenSCAP, Wazuh SCA, Nmap) per host and check.", no_args_is_help=True
)


def _clean(text: str) -> str:
    """One line of scanner-written text, without control characters that could rewrite a terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _check_type(report_type: str | None) -> None:
    if report_type is not None and report_type not in REPORT_TYPES:
        raise typer.BadParameter(f"expected one of {', '.join(REPORT_TYPES)}", param_hint="--type")


@app.command("list")
def list_(
    host: str | None = typer.Option(None, help="Only this host (agent name or address)."),
    report_type: str | None = typer.Option(
        None, "--type", help=f"Only one report type: {', '.join(REPORT_TYPES)}."
    ),
    unconfirmed: bool = typer.Option(False, "--unconfirmed", help="Only findings nobody confirmed yet."),
    resolved: bool = typer.Option(False, "--resolved", help="Also findings the latest report no longer has."),
) -> None:
    """The findings: id, host, type, check, severity, state and title."""
    _check_type(report_type)
    engine = open_engine()
    try:
        with Session(engine) as session:
            findings = list_findings(
                session,
                host=host,
                report_type=report_type,
                present_only=not resolved,
                unconfirmed_only=unconfirmed,
            )
    finally:
        engine.dispose()
    for f in findings:
        state = ("present" if f.present else "resolved") + (", confirmed" if f.confirmed else "")
        typer.echo(
            f"{f.id}\t{_clean(f.host)}\t{f.report_type}\t{_clean(f.check_id)}\tseverity {f.severity}\t"
            f"{state}\tsince {f.first_seen:%Y-%m-%d %H:%M}\t{_clean(f.title)}"
        )
    typer.echo(f"{len(findings)} findings", err=True)


@app.command("confirm")
def confirm(
    finding_ids: list[int] = typer.Argument(..., help="Finding ids (from `alertflow posture list`)."),
    by: str | None = typer.Option(None, "--by", help="Who confirms (default: the login name)."),
) -> None:
    """Confirm findings: `unconfirmed` mode raises them no more, until they disappear and come back."""
    engine = open_engine()
    try:
        with Session(engine) as session:
            changed = confirm_findings(session, finding_ids, by=by or getpass.getuser())
            session.commit()
    finally:
        engine.dispose()
    typer.echo(f"{changed} of {len(finding_ids)} findings confirmed")


@app.command("reports")
def reports(
    host: str | None = typer.Option(None, help="Only this host."),
    report_type: str | None = typer.Option(
        None, "--type", help=f"Only one report type: {', '.join(REPORT_TYPES)}."
    ),
    limit: int = typer.Option(20, min=1, max=1000),
    show: int | None = typer.Option(None, "--show", help="List the findings of this report id."),
) -> None:
    """The report history, newest first: per report its mode and how many findings, new, resolved, raised."""
    _check_type(report_type)
    engine = open_engine()
    try:
        with Session(engine) as session:
            if show is not None:
                for finding, new in report_findings(session, show):
                    typer.echo(
                        f"{finding.id}\t{_clean(finding.check_id)}\t{'new' if new else 'seen'}\t{_clean(finding.title)}"
                    )
                return
            for r in report_history(session, host=host, report_type=report_type, limit=limit):
                typer.echo(
                    f"{r.id}\t{r.created_at:%Y-%m-%d %H:%M}\t{_clean(r.host)}\t{r.report_type}\t{r.mode}\t"
                    f"findings {r.findings}\tnew {r.new}\tresolved {r.resolved}\traised {r.raised}"
                )
    finally:
        engine.dispose()
