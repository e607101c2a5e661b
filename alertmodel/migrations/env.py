"""Alembic environment: runs migrations online against the configured URL."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import alertmodel  # noqa: F401  (registers every table on SQLModel.metadata)
from alertmodel.engine import make_engine

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run the migrations in one transaction (SQLite needs batch mode for ALTERs)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by alertmodel.migrate.alembic_config"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("alertflow migrations run online only: alertflow db upgrade")
run_migrations_online()
