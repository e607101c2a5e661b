"""The cluster's own databases: a PostgreSQL role and database for Prefect, a MariaDB user and
database for the alert store, each with a password kept in the cluster's data dir."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import sqlalchemy as sa

from alertmodel.errors import ConfigurationError

# Database and user names go into DDL (no parameters there): plain identifiers only.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _identifier(name: str, setting: str) -> str:
    if not NAME.match(name):
        raise ConfigurationError(f"{setting}={name!r}: use letters, digits and _ (a database name)")
    return name


def ensure_postgres(admin_url: str, name: str, password: str) -> None:
    """Role and database `name` (the role owns it; its password set every time)."""
    _identifier(name, "ALERTFLOW_CLUSTER_PREFECT_DATABASE")
    asyncio.run(_ensure_postgres(admin_url, name, password))


def postgres_url(admin_url: str, name: str, password: str) -> str:
    """Prefect's connection URL for role and database `name` on the admin URL's server."""
    server = sa.make_url(admin_url)
    host, port = server.host or "127.0.0.1", server.port or 5432
    return f"postgresql+asyncpg://{name}:{quote(password, safe='')}@{host}:{port}/{name}"


async def _ensure_postgres(admin_url: str, name: str, password: str) -> None:
    import asyncpg

    try:
        conn = await asyncpg.connect(admin_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConfigurationError(
            f"PostgreSQL does not answer as ALERTFLOW_CLUSTER_POSTGRES_ADMIN_URL says ({type(exc).__name__}: {exc})"
        ) from None
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
            await conn.execute(f'CREATE ROLE "{name}" LOGIN')
        # ALTER ROLE takes no bind parameters: quote the password as a literal.
        literal = await conn.fetchval("SELECT quote_literal($1)", password)
        await conn.execute(f'ALTER ROLE "{name}" WITH LOGIN PASSWORD {literal}')
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
    finally:
        await conn.close()


def drop_postgres(admin_url: str, name: str) -> None:
    """Drop database and role `name` (tests; connections are ended first)."""
    _identifier(name, "ALERTFLOW_CLUSTER_PREFECT_DATABASE")

    async def drop() -> None:
        import asyncpg

        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'DROP ROLE IF EXISTS "{name}"')
        finally:
            await conn.close()

    asyncio.run(drop())


def mariadb_url(admin_url: str, name: str, password: str) -> str:
    """The alert store's URL for user and database `name` on the admin URL's server."""
    admin = sa.make_url(admin_url)
    url = sa.URL.create(
        "mysql+pymysql",
        username=name,
        password=password,
        host=admin.host or "127.0.0.1",
        port=admin.port or 3306,
        database=name,
    )
    return url.render_as_string(hide_password=False)


def ensure_mariadb(admin_url: str, name: str, password: str) -> None:
    """User and database `name` (all rights on it; its password set every time)."""
    _identifier(name, "ALERTFLOW_CLUSTER_ALERT_DATABASE")
    admin = sa.make_url(admin_url)
    engine = sa.create_engine(admin)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))
            for host in ("127.0.0.1", "localhost"):
                conn.execute(
                    sa.text(f"CREATE USER IF NOT EXISTS '{name}'@'{host}' IDENTIFIED BY :pw"),
                    {"pw": password},
                )
                conn.execute(sa.text(f"ALTER USER '{name}'@'{host}' IDENTIFIED BY :pw"), {"pw": password})
                conn.execute(sa.text(f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{name}'@'{host}'"))
    except sa.exc.OperationalError as exc:
        raise ConfigurationError(
            f"MariaDB does not answer as ALERTFLOW_CLUSTER_MARIADB_ADMIN_URL says ({exc.orig})"
        ) from None
    finally:
        engine.dispose()


def drop_mariadb(admin_url: str, name: str) -> None:
    """Drop database and user `name` (tests)."""
    _identifier(name, "ALERTFLOW_CLUSTER_ALERT_DATABASE")
    engine = sa.create_engine(sa.make_url(admin_url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
            for host in ("127.0.0.1", "localhost"):
                conn.execute(sa.text(f"DROP USER IF EXISTS '{name}'@'{host}'"))
    finally:
        engine.dispose()
