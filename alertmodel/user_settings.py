"""A user's own settings (Alertflex's "profile for user"): one row per API user, read and written by name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Connection, ForeignKey, select
from sqlmodel import Field, SQLModel

from alertmodel.account import ApiUser
from alertmodel.catalog import UTF8MB4
from alertmodel.types import BigId, UTCDateTime, utcnow

DASHBOARD_WINDOWS = ("1h", "24h", "7d", "30d")
DEFAULT_DASHBOARD_WINDOW = "24h"


class UserSettings(SQLModel, table=True):
    """What a user chose for themselves; deleted with the user."""

    __tablename__ = "user_settings"
    __table_args__ = (UTF8MB4,)

    user_id: int = Field(
        sa_column=Column(BigId, ForeignKey("api_user.id", ondelete="CASCADE"), primary_key=True)
    )
    dashboard_window: str = Field(
        max_length=8, description="The dashboard's time window: 1h, 24h, 7d or 30d."
    )
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


@dataclass(frozen=True)
class Settings:
    """A user's settings, defaults filled in."""

    dashboard_window: str = DEFAULT_DASHBOARD_WINDOW


_SETTINGS = UserSettings.__table__
_USERS = ApiUser.__table__


def read_settings(conn: Connection, user: str) -> Settings:
    """The settings of the user called `user` (the defaults when they never saved any)."""
    row = conn.execute(
        select(_SETTINGS.c.dashboard_window)
        .join(_USERS, _USERS.c.id == _SETTINGS.c.user_id)
        .where(_USERS.c.name == user)
    ).first()
    if row is None or row.dashboard_window not in DASHBOARD_WINDOWS:
        return Settings()
    return Settings(dashboard_window=row.dashboard_window)


def write_settings(conn: Connection, user: str, settings: Settings) -> Settings | None:
    """Store `settings` for `user` in the caller's transaction; the settings before, or None (no such user).

    ValueError when a value is not one of the allowed ones.
    """
    if settings.dashboard_window not in DASHBOARD_WINDOWS:
        raise ValueError(f"dashboard_window must be one of {', '.join(DASHBOARD_WINDOWS)}")
    user_id = conn.execute(select(_USERS.c.id).where(_USERS.c.name == user)).scalar()
    if user_id is None:
        return None
    before = read_settings(conn, user)
    values = {"dashboard_window": settings.dashboard_window, "updated_at": utcnow()}
    changed = conn.execute(_SETTINGS.update().where(_SETTINGS.c.user_id == user_id).values(**values)).rowcount
    if not changed:
        conn.execute(_SETTINGS.insert().values(user_id=user_id, **values))
    return before
