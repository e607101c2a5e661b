"""API users and tokens: argon2 hashes, tokens stored as SHA-256, sign-in refusals, the audit trail."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from alertflow.api import accounts
from alertmodel import ApiToken, ApiUser, AuditEntry, migrate
from alertmodel.engine import make_engine


@pytest.fixture
def engine(migrated_url: str) -> Engine:
    return make_engine(migrated_url)


def _add(engine: Engine, name: str = "ana", **kw: object) -> None:
    fields: dict[str, object] = {
        "role": "analyst",
        "password": "correct horse",
        "tenants": [],
        "actor": "test",
    }
    fields.update(kw)
    accounts.add_user(engine, name, **fields)  # type: ignore[arg-type]


def test_a_password_is_stored_as_an_argon2id_hash_and_signs_in(engine: Engine) -> None:
    _add(engine, tenants=["t-b", "t-a", "t-a"])
    with engine.connect() as conn:
        stored = conn.execute(select(ApiUser.__table__.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    principal = accounts.sign_in_with_password(engine, "ana", "correct horse")
    assert principal == accounts.Principal("ana", "analyst", ("t-a", "t-b"))


@pytest.mark.parametrize(
    ("name", "password"), [("ana", "wrong horse"), ("nobody", "correct horse"), ("", "")]
)
def test_a_wrong_password_or_unknown_user_is_refused(engine: Engine, name: str, password: str) -> None:
    _add(engine)
    assert accounts.sign_in_with_password(engine, name, password) is None


def test_a_disabled_user_cannot_sign_in_even_after_a_cached_success(engine: Engine) -> None:
    _add(engine)
    assert accounts.sign_in_with_password(engine, "ana", "correct horse") is not None
    accounts.update_user(engine, "ana", disabled=True, actor="test")
    assert accounts.sign_in_with_password(engine, "ana", "correct horse") is None


def test_a_changed_password_retires_the_old_one_at_once(engine: Engine) -> None:
    _add(engine)
    assert accounts.sign_in_with_password(engine, "ana", "correct horse") is not None
    accounts.update_user(engine, "ana", password="battery staple", actor="test")
    assert accounts.sign_in_with_password(engine, "ana", "correct horse") is None
    assert accounts.sign_in_with_password(engine, "ana", "battery staple") is not None


def test_invalid_names_roles_tenants_and_passwords_are_refused(engine: Engine) -> None:
    for kw, message in [
        ({"name": "with space"}, "user name"),
        ({"name": "a:b"}, "user name"),
        ({"role": "root"}, "role must be one of viewer, analyst, admin"),
        ({"tenants": [""]}, "tenant"),
        ({"password": "short"}, "8 to 1024"),
    ]:
        fields = {"name": "ok", **kw}
        with pytest.raises(accounts.AccountError, match=message):
            _add(engine, **fields)  # type: ignore[arg-type]
    _add(engine, "ok")
    with pytest.raises(accounts.AccountError, match="exists"):
        _add(engine, "ok")


def test_a_token_is_shown_once_stored_as_sha256_and_signs_in(engine: Engine) -> None:
    _add(engine)
    issued = accounts.create_token(engine, "ana", name="ci", expires_in=timedelta(days=1), actor="test")
    with engine.connect() as conn:
        stored = conn.execute(select(ApiToken.__table__.c.token_sha256)).scalar_one()
    assert stored == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert accounts.sign_in_with_token(engine, issued.secret) == accounts.Principal("ana", "analyst", ())
    assert accounts.sign_in_with_token(engine, issued.secret + "x") is None


def test_revoked_and_expired_tokens_and_tokens_of_disabled_users_are_refused(engine: Engine) -> None:
    _add(engine)
    revoked = accounts.create_token(engine, "ana", expires_in=None, actor="test")
    expired = accounts.create_token(engine, "ana", expires_in=timedelta(seconds=-1), actor="test")
    live = accounts.create_token(engine, "ana", expires_in=None, actor="test")
    accounts.revoke_token(engine, revoked.id, actor="test")
    assert accounts.sign_in_with_token(engine, revoked.secret) is None
    assert accounts.sign_in_with_token(engine, expired.secret) is None
    assert accounts.sign_in_with_token(engine, live.secret) is not None
    accounts.update_user(engine, "ana", disabled=True, actor="test")
    assert accounts.sign_in_with_token(engine, live.secret) is None


def test_a_user_may_revoke_only_their_own_tokens(engine: Engine) -> None:
    _add(engine)
    _add(engine, "bob")
    token = accounts.create_token(engine, "ana", expires_in=None, actor="test")
    with pytest.raises(accounts.AccountError, match="no token"):
        accounts.revoke_token(engine, token.id, actor="bob", user="bob")
    assert accounts.sign_in_with_token(engine, token.secret) is not None


def test_every_change_is_audited_without_passwords_hashes_or_token_secrets(engine: Engine) -> None:
    _add(engine)
    accounts.update_user(engine, "ana", role="admin", password="battery staple", actor="root")
    token = accounts.create_token(engine, "ana", name="ci", expires_in=None, actor="ana")
    accounts.revoke_token(engine, token.id, actor="ana")
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEntry.__table__).order_by(AuditEntry.__table__.c.id)).all()
    assert [(r.actor, r.action, r.target) for r in rows] == [
        ("test", "user.create", "user/ana"),
        ("root", "user.update", "user/ana"),
        ("ana", "token.create", f"user/ana/token/{token.id}"),
        ("ana", "token.revoke", f"user/ana/token/{token.id}"),
    ]
    update = rows[1]
    assert update.before["role"] == "analyst" and update.after["role"] == "admin"
    assert update.after["password_changed"] is True
    text = repr([tuple(r) for r in rows])
    for secret in ("correct horse", "battery staple", "argon2", token.secret):
        assert secret not in text


def test_the_migration_is_the_newest_and_creates_the_account_tables(migrated_url: str) -> None:
    assert migrate.current(migrated_url) == migrate.head()
