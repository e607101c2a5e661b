"""dashboard top-k: alert_rollup indexes by count within a piece and by value across buckets

Revision ID: 0013_dashboard_topk
Revises: 0012_user_settings
Create Date: 2026-12-01

The dashboard ranks its top source addresses by reading, in each (grain, dim, bucket,
ref_id) piece, only the rows at or over a bound (`ix_alert_rollup_rank`), then the whole
window's rows of those few values (`ix_alert_rollup_value`); see `alertflow.api.dashboard`.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_dashboard_topk"
down_revision: str | None = "0012_user_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_alert_rollup_rank", "alert_rollup", ["grain", "dim", "bucket", "ref_id", "n"])
    # without n: an upsert that only adds to a row's count leaves this index alone
    op.create_index(
        "ix_alert_rollup_value", "alert_rollup", ["dim", "value_key", "grain", "bucket", "ref_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_alert_rollup_value", table_name="alert_rollup")
    op.drop_index("ix_alert_rollup_rank", table_name="alert_rollup")
