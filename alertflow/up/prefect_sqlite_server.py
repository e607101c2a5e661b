"""`prefect server start` with every SQLite write transaction begun IMMEDIATE.

Prefect begins a write transaction DEFERRED unless its caller asks for row locks: the
transaction reads first and takes SQLite's write lock at its first write. When another
connection has written in between, SQLite cannot upgrade the stale read snapshot and answers
"database is locked" at once, without waiting out the busy timeout; Prefect's API turns that
into 503. Creating a flow run from a deployment is such a transaction, so on a busy server one
creation in a few hundred lost that race, and the client's back-off made it cost 2 s. Prefect's
own note on its WAL pragma names the cure: begin IMMEDIATE, so a writer waits its turn for the
lock (up to the busy timeout) instead of failing. Readers are unaffected: they do not begin a
transaction. PostgreSQL servers do not use this module.

Run as `python -m alertflow.up.prefect_sqlite_server server start ...`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


def begin_writes_immediately() -> None:
    """Make Prefect's SQLite configuration begin every write transaction IMMEDIATE."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    deferred_or_immediate = AioSqliteConfiguration.begin_transaction

    @asynccontextmanager
    async def begin_transaction(
        self: AioSqliteConfiguration, session: Any, with_for_update: bool = False
    ) -> AsyncIterator[Any]:
        async with deferred_or_immediate(self, session, with_for_update=True) as transaction:
            yield transaction

    AioSqliteConfiguration.begin_transaction = begin_transaction  # type: ignore[method-assign]


def main() -> None:
    begin_writes_immediately()
    from prefect.cli import app

    app()


if __name__ == "__main__":
    main()
