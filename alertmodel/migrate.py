"""Alembic migrations driven from code, so `alertflow db upgrade` needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from alertmodel.engine import make_engine, normalize_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
RENAMED_REVISIONS = {
    "issue5_checkpoint": "0002_ingest_checkpoint",
    "issue6_response": "0003_response_state",
}
"""Old revision id -> its id now that the migrations are named for their change; stores stamped
with an old id are restamped before they are migrated."""


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%'; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", normalize_url(url).render_as_string(False).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    _restamp_renamed_revisions(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision`."""
    _restamp_renamed_revisions(url)
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return RENAMED_REVISIONS.get(revision, revision) if revision is not None else None


def _restamp_renamed_revisions(url: str) -> None:
    """Give a store stamped with an old revision id its new id, which Alembic can find."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return
            for old, new in RENAMED_REVISIONS.items():
                conn.execute(
                    text("UPDATE alembic_version SET version_num = :new WHERE version_num = :old"),
                    {"old": old, "new": new},
                )
    finally:
        engine.dispose()


def head() -> str | None:
    """The newest revision the migrations know."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
