"""Where a worker's filter policy comes from: the node's active version in the database, or a file.

`store_policy` adds a version and makes it the node's only active one in one transaction
(`add_version` and `activate_version` do the parts, in the caller's transaction);
a running worker's `DatabasePolicy.poll` notices the change on its next poll and swaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from alertmodel.intake import FilterPolicy
from alertmodel.types import utcnow
from ingest.policy import Policy, load_policy, parse_policy

_TABLE = FilterPolicy.__table__


class DatabasePolicy:
    """The active `FilterPolicy` row of one node (None, no policy, when the node has none)."""

    def __init__(self, engine: Engine, node: str) -> None:
        self.engine = engine
        self.node = node
        self.version: int | None = None
        self._seen: object = object()  # no poll yet: the first one always reports a change

    def poll(self) -> tuple[bool, Policy | None]:
        """(changed, policy); raises ConfigurationError when the stored body is invalid."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_TABLE.c.id, _TABLE.c.version, _TABLE.c.body)
                .where(_TABLE.c.node == self.node, _TABLE.c.active.is_(True))
                .order_by(_TABLE.c.version.desc())
                .limit(1)
            ).first()
        key = None if row is None else row.id
        if key == self._seen:
            return False, None
        self._seen = key
        if row is None:
            self.version = None
            return True, None
        policy = parse_policy(row.body, origin=f"filter_policy node={self.node} version={row.version}")
        self.version = row.version
        return True, policy


class FilePolicy:
    """A policy file, read again when its modification time changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._mtime: float | None = None

    def poll(self) -> tuple[bool, Policy | None]:
        """(changed, policy); raises ConfigurationError when the file is unreadable or invalid."""
        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return False, None
        policy = load_policy(self.path)
        self._mtime = mtime
        return True, policy


def store_policy(engine: Engine, node: str, body: dict[str, Any]) -> int:
    """Validate `body`, store it as the node's next version and activate it; returns the version."""
    with engine.begin() as conn:
        return add_version(conn, node, body, activate=True)


def add_version(conn: Connection, node: str, body: dict[str, Any], *, activate: bool) -> int:
    """Validate `body` and store it as the node's next version (the only active one when `activate`).

    Runs in the caller's transaction; returns the new version number.
    """
    parse_policy(body, origin=f"policy for node {node}")
    latest = conn.execute(select(func.max(_TABLE.c.version)).where(_TABLE.c.node == node)).scalar()
    version = (latest or 0) + 1
    if activate:
        conn.execute(update(_TABLE).where(_TABLE.c.node == node).values(active=False))
    conn.execute(
        _TABLE.insert().values(node=node, version=version, body=body, created=utcnow(), active=activate)
    )
    return version


def active_version(conn: Connection, node: str) -> int | None:
    """The node's active version, or None."""
    return conn.execute(
        select(func.max(_TABLE.c.version)).where(_TABLE.c.node == node, _TABLE.c.active.is_(True))
    ).scalar()


def activate_version(conn: Connection, node: str, version: int) -> bool:
    """Make `version` the node's only active one (workers swap on their next poll); False when it does not exist."""
    exists = conn.execute(
        select(_TABLE.c.id).where(_TABLE.c.node == node, _TABLE.c.version == version)
    ).first()
    if exists is None:
        return False
    conn.execute(
        update(_TABLE).where(_TABLE.c.node == node, _TABLE.c.version != version).values(active=False)
    )
    conn.execute(update(_TABLE).where(_TABLE.c.id == exists.id).values(active=True))
    return True
