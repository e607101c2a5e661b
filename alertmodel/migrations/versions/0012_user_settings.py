"""user settings: each API user's own choices (the dashboard's time window)

Revision ID: 0012_user_settings
Revises: 0011_incident_alert_uuid_unique
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import alertmodel.types

revision: str = "0012_user_settings"
down_revision: str | None = "0011_incident_alert_uuid_unique"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_settings",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dashboard_window", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("updated_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["api_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    op.drop_table("user_settings")
