"""response state: rate limits, groups, user groups; playbook_run.group_lead

Revision ID: 0003_response_state
Revises: 0002_ingest_checkpoint
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import alertmodel.types

revision: str = "0003_response_state"
down_revision: str | None = "0002_ingest_checkpoint"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "response_rate",
        _id(),
        sa.Column("profile", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("rate_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("window_start", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("profile", "rate_key", name="uq_response_rate_profile_key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "response_group",
        _id(),
        sa.Column("profile", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("group_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("lead_alert_uuid", sqlmodel.sql.sqltypes.AutoString(length=37), nullable=False),
        sa.Column("opened_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("closes_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("profile", "group_key", name="uq_response_group_profile_key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "user_group",
        _id(),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("slack_channel", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    with op.batch_alter_table("playbook_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("group_lead", sqlmodel.sql.sqltypes.AutoString(length=37), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_playbook_run_group_lead"), ["group_lead"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("playbook_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playbook_run_group_lead"))
        batch_op.drop_column("group_lead")
    op.drop_table("user_group")
    op.drop_table("response_group")
    op.drop_table("response_rate")
