"""an alert has at most one incident: incident.alert_uuid gets a unique index; playbook_run.rerun_of

Revision ID: 0011_incident_alert_uuid_unique
Revises: 0010_alert_rollups
Create Date: 2026-12-01

Before this, two processes opening an incident for the same alert at the same moment could
both pass the "has it one already?" check and store two. Such duplicates are merged into the
oldest incident (lowest id) rather than dropped: it is the one analysts and notifications saw
first, later copies were only ever the losers of that race. The history entries of the copies
move to the kept incident (nothing an analyst wrote is lost), and a JIRA key or TheHive id
that only a copy carries is copied onto it; then the copies are deleted.

playbook_run.rerun_of (for work-pool workers sharing one Prefect server): the flow run id of the
Crashed run that the row's current flow run repeats; NULL for every row stored before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011_incident_alert_uuid_unique"
down_revision: str | None = "0010_alert_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFS = ("jira_key", "thehive_id")


def upgrade() -> None:
    _merge_duplicates(op.get_bind())
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_alert_uuid")
        batch_op.create_index("ix_incident_alert_uuid", ["alert_uuid"], unique=True)
    with op.batch_alter_table("playbook_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rerun_of", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))


def _merge_duplicates(conn: sa.Connection) -> None:
    incident = sa.table("incident", sa.column("id"), sa.column("alert_uuid"), *(sa.column(r) for r in _REFS))
    event = sa.table("incident_event", sa.column("incident_id"))
    doubled = conn.execute(
        sa.select(incident.c.alert_uuid).group_by(incident.c.alert_uuid).having(sa.func.count() > 1)
    ).scalars()
    for alert_uuid in list(doubled):
        rows = conn.execute(
            sa.select(incident).where(incident.c.alert_uuid == alert_uuid).order_by(incident.c.id)
        ).all()
        kept, copies = rows[0], rows[1:]
        refs = {r: getattr(kept, r) for r in _REFS}
        for copy in copies:
            for r in _REFS:
                refs[r] = refs[r] or getattr(copy, r)
        copy_ids = [c.id for c in copies]
        conn.execute(incident.update().where(incident.c.id == kept.id).values(refs))
        conn.execute(event.update().where(event.c.incident_id.in_(copy_ids)).values(incident_id=kept.id))
        conn.execute(incident.delete().where(incident.c.id.in_(copy_ids)))


def downgrade() -> None:
    with op.batch_alter_table("playbook_run", schema=None) as batch_op:
        batch_op.drop_column("rerun_of")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_alert_uuid")
        batch_op.create_index("ix_incident_alert_uuid", ["alert_uuid"], unique=False)
