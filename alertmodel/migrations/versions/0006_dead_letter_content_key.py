"""dead letters get a content key: a redelivered bad message is stored once

Revision ID: 0006_dead_letter_content_key
Revises: 0005_alert_search_indexes
Create Date: 2026-11-30

Rows already stored get the key of their stored bytes (what `alertmodel.dead_letter_key`
computes: sha256 of source, NUL, raw); of rows with the same key, the oldest is kept.
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_dead_letter_content_key"
down_revision: str | None = "0005_alert_search_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_key", sa.CHAR(length=64), nullable=True))
    conn = op.get_bind()
    table = sa.table(
        "dead_letter", sa.column("id"), sa.column("source"), sa.column("raw"), sa.column("content_key")
    )
    last = 0
    while True:  # in batches: a months-old table does not have to fit in memory
        rows = conn.execute(
            sa.select(table.c.id, table.c.source, table.c.raw)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        conn.execute(
            table.update().where(table.c.id == sa.bindparam("row_id")),
            [
                {"row_id": r.id, "content_key": hashlib.sha256(r.source.encode() + b"\0" + r.raw).hexdigest()}
                for r in rows
            ],
        )
        last = rows[-1].id
    keep = sa.select(sa.func.min(table.c.id).label("id")).group_by(table.c.content_key).subquery()
    conn.execute(table.delete().where(table.c.id.not_in(sa.select(keep.c.id))))
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.alter_column("content_key", existing_type=sa.CHAR(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_dead_letter_content_key", ["content_key"])


def downgrade() -> None:
    with op.batch_alter_table("dead_letter", schema=None) as batch_op:
        batch_op.drop_constraint("uq_dead_letter_content_key", type_="unique")
        batch_op.drop_column("content_key")
