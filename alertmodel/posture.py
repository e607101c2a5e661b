"""Posture findings (OpenSCAP, Wazuh SCA, Nmap): kept per report type, host and check, with history.

Each scan of one host by one scanner is a `PostureReport`. A finding is one failed check (or one
open port) of one host, kept in `PostureFinding` for as long as alertflow runs: `present` says
whether the latest report had it, `confirmed` whether an analyst acknowledged it. Which
findings of a report become alerts is the report type's mode, as in Alertflex's controller:

| mode | raises |
|---|---|
| `all` | every finding of the report |
| `unconfirmed` | every finding of the report no analyst has confirmed |
| `new` | only findings the previous report of that host did not have |

A finding that disappears from a report and comes back later is new again, and its
confirmation is cleared: what returned is a new occurrence. `PostureReportFinding` lists the
findings of every report (and which were new in it), so the history stays queryable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from alertmodel.catalog import UTF8MB4
from alertmodel.types import BigId, UTCDateTime, utcnow

MODES = ("all", "unconfirmed", "new")
REPORT_TYPES = ("openscap", "wazuh-sca", "nmap")
CHECK_ID_WIDTH = 255
TITLE_WIDTH = 512


class PostureReport(SQLModel, table=True):
    """One scan of one host by one scanner, and what it changed."""

    __tablename__ = "posture_report"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    report_type: str = Field(max_length=32, index=True)
    host: str = Field(max_length=255, index=True)
    ref_id: str = Field(default="indef", max_length=255)
    mode: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    findings: int = 0
    new: int = 0
    resolved: int = 0
    raised: int = 0


class PostureFinding(SQLModel, table=True):
    """One check of one host that a report found failing (or one open port), and its state now."""

    __tablename__ = "posture_finding"
    __table_args__ = (
        UniqueConstraint("report_type", "host", "check_id", name="uq_posture_finding_check"),
        UTF8MB4,
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    report_type: str = Field(max_length=32)
    host: str = Field(max_length=255, index=True)
    check_id: str = Field(max_length=CHECK_ID_WIDTH)
    title: str = Field(default="", max_length=TITLE_WIDTH)
    severity: int = 0
    first_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    present: bool = True
    confirmed: bool = False
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_by: str | None = Field(default=None, max_length=255)
    last_report_id: int | None = Field(default=None, sa_column=Column(BigId, nullable=True))


class PostureReportFinding(SQLModel, table=True):
    """A finding as one report saw it (`new`: the report before it did not have it)."""

    __tablename__ = "posture_report_finding"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    report_id: int = Field(
        sa_column=Column(
            BigId, ForeignKey("posture_report.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    finding_id: int = Field(
        sa_column=Column(
            BigId, ForeignKey("posture_finding.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    new: bool = False


class NodeStats(SQLModel, table=True):
    """A collector node's periodic statistics report (Alertflex Altprobe `node_alerts` counters and the rest)."""

    __tablename__ = "node_stats"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    ref_id: str = Field(default="indef", max_length=255)
    node_id: str = Field(max_length=255, index=True)
    host_name: str = Field(default="indef", max_length=255)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    stats: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class CheckResult(BaseModel):
    """One failed check (or open port) of a report, as a scanner parser produced it."""

    model_config = ConfigDict(frozen=True)

    check_id: str
    title: str
    severity: int = PydanticField(default=0, ge=0, le=3)
    detail: str = ""


class HostReport(BaseModel):
    """A complete scan of one host by one scanner: every failed check it found."""

    report_type: str
    host: str
    checks: list[CheckResult]


@dataclass(slots=True)
class ReportOutcome:
    """What recording a report did: its id, the findings to raise as alerts, what appeared and went."""

    report_id: int
    raised: list[CheckResult] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


def record_report(
    session: Session,
    report_type: str,
    host: str,
    checks: Sequence[CheckResult],
    *,
    mode: str = "new",
    ref_id: str = "indef",
    now: datetime | None = None,
) -> ReportOutcome:
    """Store one complete report of `host`, update its findings, and say which to raise under `mode`.

    Only call this with a report that ran to the end: every present finding it lacks is marked
    resolved. The caller commits.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not host:
        raise ValueError("host must not be empty")
    now = now or utcnow()
    unique: dict[str, CheckResult] = {}
    for check in checks:
        unique.setdefault(check.check_id[:CHECK_ID_WIDTH], check)
    report = PostureReport(report_type=report_type, host=host, ref_id=ref_id, mode=mode, created_at=now)
    session.add(report)
    session.flush()
    assert report.id is not None
    known = {
        f.check_id: f
        for f in session.exec(
            select(PostureFinding).where(
                PostureFinding.report_type == report_type, PostureFinding.host == host
            )
        )
    }
    outcome = ReportOutcome(report_id=report.id)
    seen: list[tuple[PostureFinding, bool]] = []
    for check_id, check in unique.items():
        finding = known.get(check_id)
        is_new = finding is None or not finding.present
        if finding is None:
            finding = PostureFinding(report_type=report_type, host=host, check_id=check_id, first_seen=now)
            session.add(finding)
        elif is_new:  # it went away and came back: a new occurrence, confirmed by nobody yet
            finding.first_seen = now
            finding.confirmed, finding.confirmed_at, finding.confirmed_by = False, None, None
        finding.title = check.title[:TITLE_WIDTH]
        finding.severity = check.severity
        finding.last_seen = now
        finding.present = True
        finding.resolved_at = None
        finding.last_report_id = report.id
        seen.append((finding, is_new))
        if is_new:
            outcome.new.append(check_id)
        if mode == "all" or (mode == "unconfirmed" and not finding.confirmed) or (mode == "new" and is_new):
            outcome.raised.append(check)
    for check_id, finding in known.items():
        if finding.present and check_id not in unique:
            finding.present = False
            finding.resolved_at = now
            outcome.resolved.append(check_id)
    session.flush()
    for finding, is_new in seen:
        assert finding.id is not None
        session.add(PostureReportFinding(report_id=report.id, finding_id=finding.id, new=is_new))
    report.findings, report.new = len(unique), len(outcome.new)
    report.resolved, report.raised = len(outcome.resolved), len(outcome.raised)
    session.add(report)
    session.flush()
    return outcome


def list_findings(
    session: Session,
    *,
    host: str | None = None,
    report_type: str | None = None,
    present_only: bool = True,
    unconfirmed_only: bool = False,
) -> list[PostureFinding]:
    """Findings, by host, report type and check id."""
    query = select(PostureFinding)
    if host is not None:
        query = query.where(PostureFinding.host == host)
    if report_type is not None:
        query = query.where(PostureFinding.report_type == report_type)
    if present_only:
        query = query.where(PostureFinding.present == True)  # noqa: E712 (SQL expression)
    if unconfirmed_only:
        query = query.where(PostureFinding.confirmed == False)  # noqa: E712
    order = (PostureFinding.host, PostureFinding.report_type, PostureFinding.check_id)
    return list(session.exec(query.order_by(*order)))


def confirm_findings(session: Session, ids: Sequence[int], *, by: str, now: datetime | None = None) -> int:
    """Mark findings confirmed (an analyst has seen them); returns how many changed. The caller commits."""
    now = now or utcnow()
    changed = 0
    for finding in session.exec(select(PostureFinding).where(PostureFinding.id.in_(list(ids)))):  # type: ignore[union-attr]
        if not finding.confirmed:
            finding.confirmed, finding.confirmed_at, finding.confirmed_by = True, now, by[:255]
            session.add(finding)
            changed += 1
    return changed


def report_history(
    session: Session, *, host: str | None = None, report_type: str | None = None, limit: int = 50
) -> list[PostureReport]:
    """Reports, newest first."""
    query = select(PostureReport)
    if host is not None:
        query = query.where(PostureReport.host == host)
    if report_type is not None:
        query = query.where(PostureReport.report_type == report_type)
    return list(session.exec(query.order_by(PostureReport.id.desc()).limit(limit)))  # type: ignore[union-attr]


def report_findings(session: Session, report_id: int) -> list[tuple[PostureFinding, bool]]:
    """The findings one report had, each with whether it was new in that report."""
    rows = session.exec(
        select(PostureFinding, PostureReportFinding.new)
        .join(PostureReportFinding, PostureReportFinding.finding_id == PostureFinding.id)  # type: ignore[arg-type]
        .where(PostureReportFinding.report_id == report_id)
        .order_by(PostureFinding.check_id)
    )
    return [(finding, bool(new)) for finding, new in rows]
