"""dead letters remember their re-ingest: when, by whom, and which alerts it stored

Revision ID: 0008_dead_letter_reingest
Revises: 0007_posture_findings
Create Date: 2026-12-01

A dead letter stored again after a fix (`POST /api/v1/dead-letters/{id}/reingest`) is kept
and marked, never deleted: the bytes that arrived stay the evidence.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import alertmodel.types

revision: str = "0008_dead_letter_reingest"
down_revision: str | None = "0007_posture_findings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reingested_at", alertmodel.types.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("reingested_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.add_column(sa.Column("reingested_alerts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.drop_column("reingested_alerts")
        batch_op.drop_column("reingested_by")
        batch_op.drop_column("reingested_at")
