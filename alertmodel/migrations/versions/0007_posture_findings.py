"""posture findings per host and check, their report history, and collector node statistics

Revision ID: 0007_posture_findings
Revises: 0006_dead_letter_content_key
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import alertmodel.types

revision: str = "0007_posture_findings"
down_revision: str | None = "0006_dead_letter_content_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UTF8MB4 = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _id() -> sa.Column:
    return sa.Column("id", _BIG, autoincrement=True, nullable=False)


def _str(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "posture_report",
        _id(),
        _str("report_type", 32),
        _str("host", 255),
        _str("ref_id", 255),
        _str("mode", 16),
        sa.Column("created_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("raised", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        **_UTF8MB4,
    )
    with op.batch_alter_table("posture_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_posture_report_report_type"), ["report_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_posture_report_host"), ["host"], unique=False)
        batch_op.create_index(batch_op.f("ix_posture_report_created_at"), ["created_at"], unique=False)
    op.create_table(
        "posture_finding",
        _id(),
        _str("report_type", 32),
        _str("host", 255),
        _str("check_id", 255),
        _str("title", 512),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("first_seen", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", alertmodel.types.UTCDateTime(), nullable=True),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("confirmed_at", alertmodel.types.UTCDateTime(), nullable=True),
        _str("confirmed_by", 255, nullable=True),
        sa.Column("last_report_id", _BIG, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_type", "host", "check_id", name="uq_posture_finding_check"),
        **_UTF8MB4,
    )
    with op.batch_alter_table("posture_finding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_posture_finding_host"), ["host"], unique=False)
    op.create_table(
        "posture_report_finding",
        _id(),
        sa.Column("report_id", _BIG, nullable=False),
        sa.Column("finding_id", _BIG, nullable=False),
        sa.Column("new", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["posture_report.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["finding_id"], ["posture_finding.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        **_UTF8MB4,
    )
    with op.batch_alter_table("posture_report_finding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_posture_report_finding_report_id"), ["report_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_posture_report_finding_finding_id"), ["finding_id"], unique=False
        )
    op.create_table(
        "node_stats",
        _id(),
        _str("ref_id", 255),
        _str("node_id", 255),
        _str("host_name", 255),
        sa.Column("received_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        **_UTF8MB4,
    )
    with op.batch_alter_table("node_stats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_stats_node_id"), ["node_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_node_stats_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_table("node_stats")
    op.drop_table("posture_report_finding")
    op.drop_table("posture_finding")
    op.drop_table("posture_report")
