"""forwarder cursors: the last alert id each forwarder has sent

Revision ID: 0009_forwarder_cursor
Revises: 0008_dead_letter_reingest
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import alertmodel.types

revision: str = "0009_forwarder_cursor"
down_revision: str | None = "0008_dead_letter_reingest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forwarder_cursor",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("last_alert_id", sa.BigInteger(), nullable=False),
        sa.Column("updated", alertmodel.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    op.drop_table("forwarder_cursor")
