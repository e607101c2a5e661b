"""`/filter-policies`: the versions of each node's filter policy: upload, list, show, diff, activate, roll back.

Validation and storage are the CLI's (`alertflow policy load`, `ingest.policy_source`): a body
is checked against the Alertflex `filters.json` model and stored as the node's next version.
Exactly one version of a node is active; running ingest workers poll for it
(`DatabasePolicy`) and swap to a newly activated one without restarting.

A version is tenant data through its `ref_id` (the tenant it stamps on alerts): a tenant-bound
viewer sees only the versions whose `ref_id` is one of its tenants (others are 404), and only
an admin bound to no tenant changes anything.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from sqlalchemy import Connection, Engine, select

from alertflow.api import audit, policy_diff
from alertflow.api.accounts import Principal
from alertflow.api.auth import GlobalAdmin, Viewer
from alertflow.api.config_common import (
    INVALID,
    NOT_FOUND,
    check_unicode,
    conflict_as_409,
    field_error,
    strict_body,
)
from alertflow.api.config_schemas import (
    PolicyChange,
    PolicyDiff,
    PolicyNode,
    PolicyVersion,
    PolicyVersionInfo,
)
from alertflow.api.deps import EngineDep
from alertflow.api.schemas import Problem
from alertmodel.account import AuditEntry
from alertmodel.alert import INDEF
from alertmodel.errors import ConfigurationError
from alertmodel.intake import FilterPolicy
from ingest.policy import Policy, dump_policy
from ingest.policy_source import activate_version, active_version, add_version

router = APIRouter(prefix="/filter-policies", tags=["filter-policies"])
_TABLE = FilterPolicy.__table__
_AUDIT = AuditEntry.__table__
_ACTIVATING = ("filter_policy.upload", "filter_policy.activate", "filter_policy.rollback")
NodeName = Annotated[str, Path(min_length=1, max_length=255, description="The collector node.")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="A version of the node's policy.")]
REFUSED: dict[int | str, dict[str, Any]] = {
    409: {
        "model": Problem,
        "description": "Nothing to roll back to, or a concurrent upload took the version.",
    }
}


@router.get("", response_model=list[PolicyNode])
def list_nodes(engine: EngineDep, viewer: Viewer) -> list[PolicyNode]:
    """Every node with policy versions: how many, the latest and the active one."""
    with engine.connect() as conn:
        rows = _visible(viewer, conn.execute(select(_TABLE).order_by(_TABLE.c.node, _TABLE.c.version)))
    nodes: dict[str, list[Any]] = {}
    for row in rows:
        nodes.setdefault(row.node, []).append(row)
    return [
        PolicyNode(
            node=node,
            versions=len(versions),
            latest_version=versions[-1].version,
            active_version=next((v.version for v in versions if v.active), None),
        )
        for node, versions in nodes.items()
    ]


@router.get("/{node}/versions", response_model=list[PolicyVersionInfo], responses=NOT_FOUND)
def list_versions(node: NodeName, engine: EngineDep, viewer: Viewer) -> list[PolicyVersionInfo]:
    """A node's versions, oldest first; 404 when it has none."""
    with engine.connect() as conn:
        rows = _visible(viewer, conn.execute(_select_node(node).order_by(_TABLE.c.version)))
    if not rows:
        raise HTTPException(404, f"no filter policy for node {node!r}")
    return [_info(r) for r in rows]


@router.post(
    "/{node}/versions",
    response_model=PolicyVersionInfo,
    status_code=201,
    responses={**INVALID, **REFUSED},
)
def upload_version(
    node: NodeName,
    body: Annotated[Policy, Depends(strict_body(Policy))],
    engine: EngineDep,
    admin: GlobalAdmin,
    activate: Annotated[bool, Query(description="Also make it the active version.")] = False,
) -> PolicyVersionInfo:
    """Store a policy (Alertflex `filters.json`) as the node's next version; 422 names the bad field."""
    document = dump_policy(body)
    check_unicode(document)
    taken = f"another upload for node {node!r} took the version number at the same time; retry"
    with conflict_as_409(taken), engine.begin() as conn:
        before = active_version(conn, node)
        try:
            version = add_version(conn, node, document, activate=activate)
        except ConfigurationError as exc:
            raise field_error(("body",), str(exc)) from None
        row = conn.execute(_select_node(node).where(_TABLE.c.version == version)).one()
        audit.record(
            conn,
            actor=admin.name,
            action="filter_policy.upload",
            target=f"filter-policy/{node}",
            before={"active_version": before},
            after={"active_version": version if activate else before, "version": version, "body": document},
        )
    return _info(row)


@router.get("/{node}/versions/{version}", response_model=PolicyVersion, responses=NOT_FOUND)
def get_version(node: NodeName, version: Version, engine: EngineDep, viewer: Viewer) -> PolicyVersion:
    """One version with its body."""
    with engine.connect() as conn:
        row = _one(conn, viewer, node, version)
    return PolicyVersion(**_info(row).model_dump(), body=row.body)


@router.get("/{node}/diff", response_model=PolicyDiff, responses=NOT_FOUND)
def diff_versions(
    node: NodeName,
    engine: EngineDep,
    viewer: Viewer,
    from_version: Annotated[int, Query(alias="from", ge=1, le=2**31 - 1, description="The older side.")],
    to_version: Annotated[int, Query(alias="to", ge=1, le=2**31 - 1, description="The newer side.")],
) -> PolicyDiff:
    """What changes from one version to another: changed JSON paths and a unified diff."""
    with engine.connect() as conn:
        old, new = _one(conn, viewer, node, from_version), _one(conn, viewer, node, to_version)
    return PolicyDiff(
        node=node,
        from_version=from_version,
        to_version=to_version,
        changes=[PolicyChange(**c) for c in policy_diff.changes(old.body, new.body)],
        unified=policy_diff.unified(old.body, new.body, f"{node} v{from_version}", f"{node} v{to_version}"),
    )


@router.post("/{node}/versions/{version}/activate", response_model=PolicyVersionInfo, responses=NOT_FOUND)
def activate(node: NodeName, version: Version, engine: EngineDep, admin: GlobalAdmin) -> PolicyVersionInfo:
    """Make a version the node's only active one; running workers swap to it on their next poll."""
    return _activate(engine, admin, node, version, "filter_policy.activate")


@router.post("/{node}/rollback", response_model=PolicyVersionInfo, responses={**NOT_FOUND, **REFUSED})
def rollback(node: NodeName, engine: EngineDep, admin: GlobalAdmin) -> PolicyVersionInfo:
    """Activate again the version that was active before the active one; 409 when there is none.

    The previous one is read from the audit log of activations; when the active version was
    set outside it (`alertflow policy load` before it wrote the log), the newest version older
    than the active one.
    """
    with engine.connect() as conn:
        if conn.execute(_select_node(node).limit(1)).first() is None:
            raise HTTPException(404, f"no filter policy for node {node!r}")
        current = active_version(conn, node)
        if current is None:
            raise HTTPException(409, f"node {node!r} has no active version to roll back from")
        previous = _previous_active(conn, node, current)
    if previous is None:
        raise HTTPException(409, f"node {node!r}: no version was active before version {current}")
    return _activate(engine, admin, node, previous, "filter_policy.rollback")


def _activate(engine: Engine, admin: Principal, node: str, version: int, action: str) -> PolicyVersionInfo:
    with engine.begin() as conn:
        before = active_version(conn, node)
        if not activate_version(conn, node, version):
            raise HTTPException(404, f"no version {version} of the filter policy of node {node!r}")
        audit.record(
            conn,
            actor=admin.name,
            action=action,
            target=f"filter-policy/{node}",
            before={"active_version": before},
            after={"active_version": version},
        )
        row = conn.execute(_select_node(node).where(_TABLE.c.version == version)).one()
    return _info(row)


def _previous_active(conn: Connection, node: str, current: int) -> int | None:
    """The version active before `current`: from the newest activation in the audit log, if it set `current`."""
    entries = conn.execute(
        select(_AUDIT.c.before, _AUDIT.c.after)
        .where(_AUDIT.c.target == f"filter-policy/{node}"[:255], _AUDIT.c.action.in_(_ACTIVATING))
        .order_by(_AUDIT.c.id.desc())
        .limit(100)
    )
    for before, after in entries:
        was, now = (before or {}).get("active_version"), (after or {}).get("active_version")
        if was == now:
            continue  # an upload that did not activate
        if now == current and isinstance(was, int) and _exists(conn, node, was):
            return was
        break
    return conn.execute(
        select(_TABLE.c.version)
        .where(_TABLE.c.node == node, _TABLE.c.version < current)
        .order_by(_TABLE.c.version.desc())
        .limit(1)
    ).scalar()


def _exists(conn: Connection, node: str, version: int) -> bool:
    return conn.execute(_select_node(node).where(_TABLE.c.version == version)).first() is not None


def _select_node(node: str) -> Any:
    return select(_TABLE).where(_TABLE.c.node == node)


def _one(conn: Connection, viewer: Principal, node: str, version: int) -> Any:
    rows = _visible(viewer, conn.execute(_select_node(node).where(_TABLE.c.version == version)))
    if not rows:
        raise HTTPException(404, f"no version {version} of the filter policy of node {node!r}")
    return rows[0]


def _visible(viewer: Principal, rows: Any) -> list[Any]:
    """The rows a principal may see: all, or those whose policy stamps one of its tenants."""
    return [r for r in rows if not viewer.tenants or _ref_id(r.body) in viewer.tenants]


def _ref_id(body: Any) -> str:
    value = body.get("ref_id", INDEF) if isinstance(body, dict) else INDEF
    return value if isinstance(value, str) else INDEF


def _info(row: Any) -> PolicyVersionInfo:
    body = row.body if isinstance(row.body, dict) else {}
    name = body.get("filter_name", INDEF)
    return PolicyVersionInfo(
        node=row.node,
        version=row.version,
        created=row.created,
        active=bool(row.active),
        filter_name=name if isinstance(name, str) else INDEF,
        ref_id=_ref_id(body),
    )
