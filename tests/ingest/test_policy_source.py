from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from alertmodel import FilterPolicy
from alertmodel.engine import make_engine
from alertmodel.errors import ConfigurationError
from ingest.policy_source import (
    DatabasePolicy,
    FilePolicy,
    activate_version,
    active_version,
    add_version,
    store_policy,
)


def test_storing_a_policy_adds_a_version_and_makes_it_the_only_active_one(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        assert store_policy(engine, "n1", {"filter_name": "a"}) == 1
        assert store_policy(engine, "n1", {"filter_name": "b"}) == 2
        assert store_policy(engine, "other", {"filter_name": "c"}) == 1
        with engine.connect() as conn:
            rows = conn.execute(
                select(FilterPolicy.node, FilterPolicy.version, FilterPolicy.active).order_by(FilterPolicy.id)
            ).all()
        assert [tuple(r) for r in rows] == [("n1", 1, False), ("n1", 2, True), ("other", 1, True)]
    finally:
        engine.dispose()


def test_an_invalid_policy_is_refused_and_not_stored(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with pytest.raises(ConfigurationError, match="home_net"):
            store_policy(engine, "n1", {"home_net": "everything"})
        assert DatabasePolicy(engine, "n1").poll() == (True, None)
    finally:
        engine.dispose()


def test_the_database_policy_reports_a_change_only_when_another_version_is_active(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        source = DatabasePolicy(engine, "n1")
        assert source.poll() == (True, None)  # no policy yet: the first poll still reports it
        assert source.poll() == (False, None)
        store_policy(engine, "n1", {"filter_name": "v1"})
        changed, policy = source.poll()
        assert changed and policy is not None and policy.filter_name == "v1" and source.version == 1
        assert source.poll() == (False, None)
    finally:
        engine.dispose()


def test_a_file_policy_is_read_again_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "filters.json"
    path.write_text('{"filter_name": "one"}')
    source = FilePolicy(path)
    changed, policy = source.poll()
    assert changed and policy is not None and policy.filter_name == "one"
    assert source.poll() == (False, None)
    path.write_text('{"filter_name": "two"}')
    os.utime(path, (1, 1))  # a different mtime, even within the filesystem's time resolution
    changed, policy = source.poll()
    assert changed and policy is not None and policy.filter_name == "two"


def test_a_version_added_inactive_runs_only_once_activated_and_an_unknown_one_is_refused(
    migrated_url: str,
) -> None:
    engine = make_engine(migrated_url)
    try:
        store_policy(engine, "n1", {"filter_name": "v1"})
        source = DatabasePolicy(engine, "n1")
        source.poll()
        with engine.begin() as conn:
            assert add_version(conn, "n1", {"filter_name": "v2"}, activate=False) == 2
        assert source.poll() == (False, None)
        with engine.begin() as conn:
            assert active_version(conn, "n1") == 1
            assert activate_version(conn, "n1", 2) and not activate_version(conn, "n1", 3)
            assert active_version(conn, "n1") == 2
        changed, policy = source.poll()
        assert changed and policy is not None and policy.filter_name == "v2" and source.version == 2
    finally:
        engine.dispose()
