"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import mysql

import alertmodel.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("alert_uuid", sa.CHAR(length=37), nullable=False),
        sa.Column("node_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("ref_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("srcip", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("dstip", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("srcagent", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("dstagent", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("srcport", sa.Integer(), nullable=False),
        sa.Column("dstport", sa.Integer(), nullable=False),
        sa.Column("user", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("process", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("file", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("agent", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("container", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("sensor", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("filter", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("info", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("time_event", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("time_collr", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("time_cntrl", alertmodel.types.UTCDateTime(), nullable=True),
        sa.Column(
            "json_event",
            sa.Text().with_variant(mysql.MEDIUMTEXT(), "mariadb").with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=False,
        ),
        sa.Column("hash_md5", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("hash_sha1", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("hash_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("proto", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column(
            "alert_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("alert_id"),
        sa.UniqueConstraint("alert_uuid"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_agent"), ["agent"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_dstip"), ["dstip"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_node_id"), ["node_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_severity"), ["severity"], unique=False)
        batch_op.create_index("ix_alert_source_event", ["source", "event"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_srcip"), ["srcip"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_time_collr"), ["time_collr"], unique=False)

    op.create_table(
        "category",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("source_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("first_seen", alertmodel.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_type", "name", name="uq_category_source_name"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "category_profile",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("source_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "dead_letter",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column(
            "raw",
            sa.LargeBinary()
            .with_variant(mysql.LONGBLOB(), "mariadb")
            .with_variant(mysql.LONGBLOB(), "mysql"),
            nullable=False,
        ),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("received_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letter_received_at"), ["received_at"], unique=False)

    op.create_table(
        "filter_policy",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("node", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("node", "version", name="uq_filter_policy_node_version"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    with op.batch_alter_table("filter_policy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_filter_policy_node"), ["node"], unique=False)

    op.create_table(
        "incident",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("alert_uuid", sqlmodel.sql.sqltypes.AutoString(length=37), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("assignee", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("jira_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("thehive_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("closed_at", alertmodel.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_alert_uuid"), ["alert_uuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_state"), ["state"], unique=False)

    op.create_table(
        "node",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("ref_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_state_next", ["state", "next_attempt_at"], unique=False)

    op.create_table(
        "playbook_run",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("alert_uuid", sqlmodel.sql.sqltypes.AutoString(length=37), nullable=False),
        sa.Column("profile", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("deployment", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("flow_run_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_uuid", "profile", name="uq_playbook_run_alert_profile"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    with op.batch_alter_table("playbook_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_playbook_run_alert_uuid"), ["alert_uuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_playbook_run_flow_run_id"), ["flow_run_id"], unique=False)

    op.create_table(
        "response_profile",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "incident_event",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("from_state", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("to_state", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    with op.batch_alter_table("incident_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_event_incident_id"), ["incident_id"], unique=False)


def downgrade() -> None:
    """Drop every table; dropping a table drops its indexes (MariaDB refuses to drop an FK index first)."""
    op.drop_table("incident_event")
    op.drop_table("response_profile")
    op.drop_table("playbook_run")
    op.drop_table("outbox")
    op.drop_table("node")
    op.drop_table("incident")
    op.drop_table("filter_policy")
    op.drop_table("dead_letter")
    op.drop_table("category_profile")
    op.drop_table("category")
    op.drop_table("alert")
