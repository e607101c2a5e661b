"""Filter policy pages (admin): each node's versions; upload, show, diff two, activate, roll back.

Everything is the API's `/filter-policies` route functions: the body is validated as the API
validates it (the Alertflex `filters.json` model, JSON types taken strictly), an error is shown
at its JSON path, and every change goes to the audit log.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from alertflow.api.routes import filter_policies as policy_routes
from alertflow.console.admin.forms import FieldErrors, admin_only, field_errors, form_page, global_admin
from alertflow.console.pages import ConsoleError, FormDep, Visit, VisitDep, _checked, _engine, render
from ingest.policy import Policy

router = APIRouter(include_in_schema=False)
# A node name may hold a `/`: every route takes the rest of the path as the node, the page of the
# node itself last, after the routes that end in a known word.
MAX_VERSION = 2**31 - 1


def _node(node: str) -> str:
    if not 1 <= len(node) <= 255:
        raise ConsoleError(404, "no such node")
    return node


def _version(text: str | None, field: str) -> int:
    if text is None or not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_VERSION:
        raise ConsoleError(422 if field != "version" else 404, f"{field}: a version number")
    return int(text)


def _to_page(exc: HTTPException) -> ConsoleError:
    return ConsoleError(exc.status_code, str(exc.detail))


def node_path(node: str) -> str:
    """The console path of a node's page."""
    return "/admin/filter-policies/" + quote(node, safe="")


def _nodes_page(
    request: Request, visit: Visit, *, errors: FieldErrors | None = None, values: dict[str, str] | None = None
) -> Response:
    admin_only(visit)
    nodes = policy_routes.list_nodes(_engine(request), visit.principal)
    values = values or {"body": '{\n  "filter_name": "default",\n  "ref_id": "indef"\n}\n'}
    return form_page(
        request, visit, "admin/policies.html", errors=errors, values=values, nodes=nodes, node_path=node_path
    )


@router.get("/admin/filter-policies")
def policies_page(request: Request, visit: VisitDep) -> Response:
    """Every node with policy versions, and the upload form."""
    return _nodes_page(request, visit)


@router.post("/admin/filter-policies")
def upload_policy(request: Request, visit: VisitDep, fields: FormDep) -> Response:
    """Store a policy as a node's next version (global admin), optionally active at once."""
    _checked(visit, fields, "admin")
    global_admin(visit)
    values = {"node": fields.get("node", "").strip(), "body": fields.get("body", "")}
    activate = fields.get("activate") == "on"
    errors: FieldErrors = {}
    if not 1 <= len(values["node"]) <= 255:
        errors["node"] = ["node: the collector node's name, 1-255 characters"]
    try:
        document: Any = json.loads(values["body"])
    except ValueError as exc:
        errors["body"] = [f"(top level): not valid JSON: {exc}"]
    else:
        if not isinstance(document, dict):
            errors["body"] = ["(top level): expected a JSON object"]
    if errors:
        return _nodes_page(request, visit, errors=errors, values=values)
    try:
        policy = Policy.model_validate(document, strict=True)
        policy_routes.upload_version(
            values["node"], policy, _engine(request), visit.principal, activate=activate
        )
    except (ValidationError, RequestValidationError) as exc:
        return _nodes_page(request, visit, errors=field_errors(exc, into="body"), values=values)
    except HTTPException as exc:
        return _nodes_page(request, visit, errors={"body": [str(exc.detail)]}, values=values)
    return RedirectResponse(node_path(values["node"]), status_code=303)


@router.get("/admin/filter-policies/{node:path}/versions/{version}")
def version_page(request: Request, node: str, version: str, visit: VisitDep) -> Response:
    """One version's body as indented JSON."""
    admin_only(visit)
    try:
        shown = policy_routes.get_version(
            _node(node), _version(version, "version"), _engine(request), visit.principal
        )
    except HTTPException as exc:
        raise _to_page(exc) from None
    body = json.dumps(shown.body, indent=2, ensure_ascii=False)
    return render(request, "admin/policy_version.html", visit, version=shown, body=body, node_path=node_path)


@router.get("/admin/filter-policies/{node:path}/diff")
def diff_page(request: Request, node: str, visit: VisitDep) -> Response:
    """What changes from one version to another: the changed JSON paths and a unified diff."""
    admin_only(visit)
    old = _version(request.query_params.get("from"), "from")
    new = _version(request.query_params.get("to"), "to")
    try:
        diff = policy_routes.diff_versions(
            _node(node), _engine(request), visit.principal, from_version=old, to_version=new
        )
    except HTTPException as exc:
        raise _to_page(exc) from None
    changes = [
        (c.path, c.change, _shown(c.before, c.change == "added"), _shown(c.after, c.change == "removed"))
        for c in diff.changes
    ]
    return render(request, "admin/policy_diff.html", visit, diff=diff, changes=changes, node_path=node_path)


def _shown(value: Any, absent: bool) -> str:
    return "" if absent else json.dumps(value, ensure_ascii=False)


@router.post("/admin/filter-policies/{node:path}/versions/{version}/activate")
def activate(request: Request, node: str, version: str, visit: VisitDep, fields: FormDep) -> Response:
    """Make a version the node's active one (global admin)."""
    _checked(visit, fields, "admin")
    global_admin(visit)
    try:
        policy_routes.activate(_node(node), _version(version, "version"), _engine(request), visit.principal)
    except HTTPException as exc:
        raise _to_page(exc) from None
    return RedirectResponse(node_path(node), status_code=303)


@router.post("/admin/filter-policies/{node:path}/rollback")
def rollback(request: Request, node: str, visit: VisitDep, fields: FormDep) -> Response:
    """Activate again the version active before the active one (global admin)."""
    _checked(visit, fields, "admin")
    global_admin(visit)
    try:
        policy_routes.rollback(_node(node), _engine(request), visit.principal)
    except HTTPException as exc:
        raise _to_page(exc) from None
    return RedirectResponse(node_path(node), status_code=303)


@router.get("/admin/filter-policies/{node:path}")
def node_page(request: Request, node: str, visit: VisitDep) -> Response:
    """A node's versions, the active one marked; activate, roll back, diff two."""
    admin_only(visit)
    try:
        versions = policy_routes.list_versions(_node(node), _engine(request), visit.principal)
    except HTTPException as exc:
        raise _to_page(exc) from None
    return render(request, "admin/policy_node.html", visit, node=node, versions=versions, node_path=node_path)
