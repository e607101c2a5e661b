"""alert search indexes: each filter column followed by time_collr, for newest-first keyset pages

Revision ID: 0005_alert_search_indexes
Revises: 0004_api_users
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_alert_search_indexes"
down_revision: str | None = "0004_api_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REPLACED = {
    # old index: (new index, its columns)
    "ix_alert_source_event": ("ix_alert_source_event_time", ["source", "event", "time_collr"]),
    "ix_alert_srcip": ("ix_alert_srcip_time", ["srcip", "time_collr"]),
    "ix_alert_dstip": ("ix_alert_dstip_time", ["dstip", "time_collr"]),
    "ix_alert_severity": ("ix_alert_severity_time", ["severity", "time_collr"]),
    "ix_alert_agent": ("ix_alert_agent_time", ["agent", "time_collr"]),
}
_OLD_COLUMNS = {
    "ix_alert_source_event": ["source", "event"],
    "ix_alert_srcip": ["srcip"],
    "ix_alert_dstip": ["dstip"],
    "ix_alert_severity": ["severity"],
    "ix_alert_agent": ["agent"],
}


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        for old, (new, columns) in _REPLACED.items():
            batch_op.create_index(new, columns, unique=False)
            batch_op.drop_index(old)
        batch_op.create_index("ix_alert_ref_id_time", ["ref_id", "time_collr"], unique=False)
        batch_op.create_index(
            "ix_alert_category_time", ["category", "time_collr"], unique=False, mysql_length={"category": 255}
        )


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_category_time")
        batch_op.drop_index("ix_alert_ref_id_time")
        for old, (new, _columns) in _REPLACED.items():
            batch_op.create_index(old, _OLD_COLUMNS[old], unique=False)
            batch_op.drop_index(new)
