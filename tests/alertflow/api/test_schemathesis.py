"""Schemathesis against the live API from its own OpenAPI document: no 5xx, responses as documented.

The store is SQLite with alerts of two tenants put in by `alertflow ingest-file`; the run signs
in with an admin's personal token (stateful runs change passwords of the users they find).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from alertflow.api import accounts
from alertflow.api.sign_in_limit import SignInLimiter
from alertmodel import ApiToken

from .conftest import LiveApi, _prepare

# Allowed on purpose: a schema-valid but unknown cursor, address or id is refused (422/404), which
# positive_data_acceptance counts as a failure; Starlette's 405 lists the methods of one route only.
EXCLUDED_CHECKS = "positive_data_acceptance,allow_header_conformance"


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module fuzzes a SQLite store of its own (writes included)."""
    directory = Path(tmp_path_factory.mktemp("fuzz"))
    url = f"sqlite:///{directory / 'alertflow.db'}"
    _prepare(url, directory)
    yield url


@pytest.mark.timeout(900)  # the run's own limit (below): 56 operations on a loaded machine
def test_no_input_makes_the_api_answer_5xx_or_break_its_schema(live_api: LiveApi, tmp_path: Path) -> None:
    accounts.add_user(
        live_api.engine, "fuzz-admin-5b1e", role="admin", password="a long fuzzing pw", tenants=[], actor="t"
    )
    token = accounts.create_token(
        live_api.engine, "fuzz-admin-5b1e", expires_in=timedelta(hours=1), actor="t"
    )
    # The fuzzer sends thousands of wrong credentials from one address: the sign-in limit would
    # answer them 429 (its own tests are in test_sign_in_limit.py); here they must reach auth.
    live_api.app.state.sign_ins = SignInLimiter(per_name=10**9, per_address=10**9)
    tokens = ApiToken.__table__
    with live_api.engine.begin() as conn:  # DELETE /me/tokens/{id} tries small ids: keep ours out of reach
        conn.execute(update(tokens).where(tokens.c.id == token.id).values(id=4242424242))
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{live_api.base_url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token.secret}",
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--max-examples",
        "25",
        "--workers",
        "1",
        "--seed",
        "20261130",
        "--request-timeout",
        "30",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "Authentication failed" not in output, output[-5000:]
    me = httpx.get(f"{live_api.base_url}/api/v1/me", headers={"Authorization": f"Bearer {token.secret}"})
    assert me.status_code == 200  # the run was signed in from start to end
