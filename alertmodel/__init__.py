"""The alert store: SQLModel tables, engine setup, migrations and batch queries.

Importing this package registers every table on `SQLModel.metadata`, which the
migrations compare against.
"""

from alertmodel.account import ROLES, ApiToken, ApiUser, AuditEntry
from alertmodel.alert import ALERT_COLUMNS, ALERT_FIELD_WIDTHS, INDEF, Alert, AlertBase, AlertRead
from alertmodel.catalog import Category, CategoryProfile, Node
from alertmodel.forwarding import ForwarderCursor
from alertmodel.incident import INCIDENT_STATES, Incident, IncidentEvent
from alertmodel.intake import DeadLetter, FilterPolicy, SourceCheckpoint, dead_letter_key
from alertmodel.posture import NodeStats, PostureFinding, PostureReport, PostureReportFinding
from alertmodel.response_tables import (
    OUTBOX_STATES,
    Outbox,
    PlaybookRun,
    ResponseGroup,
    ResponseProfile,
    ResponseRate,
    UserGroup,
)
from alertmodel.rollup import AlertRollup
from alertmodel.user_settings import UserSettings

__all__ = [
    "ALERT_COLUMNS",
    "ALERT_FIELD_WIDTHS",
    "INCIDENT_STATES",
    "INDEF",
    "OUTBOX_STATES",
    "ROLES",
    "Alert",
    "AlertBase",
    "AlertRead",
    "AlertRollup",
    "ApiToken",
    "ApiUser",
    "AuditEntry",
    "Category",
    "CategoryProfile",
    "DeadLetter",
    "FilterPolicy",
    "ForwarderCursor",
    "Incident",
    "IncidentEvent",
    "Node",
    "NodeStats",
    "Outbox",
    "PlaybookRun",
    "PostureFinding",
    "PostureReport",
    "PostureReportFinding",
    "ResponseGroup",
    "ResponseProfile",
    "ResponseRate",
    "SourceCheckpoint",
    "UserGroup",
    "UserSettings",
    "dead_letter_key",
]
