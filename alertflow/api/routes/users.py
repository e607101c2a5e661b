"""`/users` (admin): create users, change their role, tenants, password or disabled flag."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from alertflow.api import accounts
from alertflow.api.auth import Admin
from alertflow.api.deps import EngineDep
from alertflow.api.schemas import Problem, User, UserCreate, UserName, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=list[User])
def list_users(engine: EngineDep, _admin: Admin) -> list[User]:
    """Every user, by name."""
    return [User.model_validate(u) for u in accounts.list_users(engine)]


@router.post("", response_model=User, status_code=201, responses={409: {"model": Problem}})
def create_user(body: UserCreate, engine: EngineDep, admin: Admin) -> User:
    """Create a user; 409 when the name is taken."""
    try:
        created = accounts.add_user(
            engine, body.name, role=body.role, password=body.password, tenants=body.tenants, actor=admin.name
        )
    except accounts.AccountError as exc:
        raise HTTPException(409, str(exc)) from None
    return User.model_validate({**created, "tokens": 0})


@router.patch("/{name}", response_model=User, responses={404: {"model": Problem}, 409: {"model": Problem}})
def update_user(name: UserName, body: UserUpdate, engine: EngineDep, admin: Admin) -> User:
    """Change what is given; an admin cannot disable or demote themselves (409)."""
    if name == admin.name and (body.disabled or (body.role is not None and body.role != "admin")):
        raise HTTPException(409, "you cannot disable yourself or give up your own admin role")
    try:
        accounts.update_user(
            engine,
            name,
            actor=admin.name,
            role=body.role,
            tenants=body.tenants,
            disabled=body.disabled,
            password=body.password,
        )
    except accounts.AccountError:
        raise HTTPException(404, f"no user {name!r}") from None
    return next(User.model_validate(u) for u in accounts.list_users(engine) if u["name"] == name)
