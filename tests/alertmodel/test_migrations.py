from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlmodel import SQLModel

from alertmodel import DeadLetter, SourceCheckpoint, dead_letter_key, migrate
from alertmodel.engine import make_engine
from alertmodel.types import utcnow

HEAD = "0013_dashboard_topk"
TABLES = {
    "alert",
    "category",
    "category_profile",
    "response_profile",
    "incident",
    "incident_event",
    "filter_policy",
    "dead_letter",
    "forwarder_cursor",
    "outbox",
    "playbook_run",
    "node",
    "response_rate",
    "response_group",
    "user_group",
    "checkpoint",
    "api_user",
    "api_token",
    "audit_log",
    "posture_report",
    "posture_finding",
    "posture_report_finding",
    "node_stats",
    "alert_rollup",
    "user_settings",
}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_every_table(database_url: str) -> None:
    assert migrate.current(database_url) is None
    migrate.upgrade(database_url)
    assert _tables(database_url) == TABLES
    assert migrate.current(database_url) == HEAD


def test_migrations_match_the_models_exactly(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
            )
    finally:
        engine.dispose()
    assert diff == []


def test_alert_table_has_the_indexes_a_console_and_matcher_need(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        inspector = inspect(engine)
        indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("alert")}
        unique = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("alert")} | {
            tuple(ix["column_names"]) for ix in inspector.get_indexes("alert") if ix["unique"]
        }
    finally:
        engine.dispose()
    expected = {
        ("time_collr",),
        ("severity", "time_collr"),
        ("source", "event", "time_collr"),
        ("srcip", "time_collr"),
        ("dstip", "time_collr"),
        ("agent", "time_collr"),
        ("ref_id", "time_collr"),
        ("category", "time_collr"),
        ("status",),
        ("node_id",),
    }
    assert expected <= indexes
    assert ("alert_uuid",) in unique


def test_downgrade_to_base_and_upgrade_again(migrated_url: str) -> None:
    migrate.downgrade(migrated_url, "base")
    assert _tables(migrated_url) == set()
    assert migrate.current(migrated_url) is None
    migrate.upgrade(migrated_url)
    assert _tables(migrated_url) == TABLES


def test_a_store_stamped_with_a_revision_id_from_before_the_rename_upgrades_with_its_data(
    database_url: str,
) -> None:
    migrate.upgrade(database_url, "0002_ingest_checkpoint")
    checkpoint = SourceCheckpoint.__table__
    position = {"source_key": "file:/var/log/suricata/eve.json", "device": 2049, "inode": 77, "offset": 4096}
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(checkpoint.insert(), [{**position, "updated": utcnow()}])
            conn.execute(text("UPDATE alembic_version SET version_num = 'issue5_checkpoint'"))

        migrate.upgrade(database_url)

        assert migrate.current(database_url) == HEAD
        assert _tables(database_url) == TABLES
        with engine.connect() as conn:
            stored = conn.execute(select(*(checkpoint.c[k] for k in position))).mappings().all()
        assert [dict(row) for row in stored] == [position]
    finally:
        engine.dispose()


def test_a_store_stamped_with_the_old_id_of_a_revision_reads_as_its_new_id(sqlite_database: str) -> None:
    migrate.upgrade(sqlite_database, "0003_response_state")
    engine = make_engine(sqlite_database)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'issue6_response'"))
        assert migrate.current(sqlite_database) == "0003_response_state"
        migrate.upgrade(sqlite_database)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD
    finally:
        engine.dispose()


def test_dead_letters_stored_before_the_content_key_get_it_and_copies_are_dropped(database_url: str) -> None:
    migrate.upgrade(database_url, "0003_response_state")
    engine = make_engine(database_url)
    row = {
        "source": "wazuh",
        "origin": "/var/log/a.json",
        "reason": "line 1: not JSON",
        "received_at": utcnow(),
    }
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO dead_letter (source, origin, raw, reason, received_at)"
                    " VALUES (:source, :origin, :raw, :reason, :received_at)"
                ),
                [
                    {**row, "raw": b"{bad"},
                    {**row, "raw": b"{bad", "origin": "again"},
                    {**row, "raw": b"{other"},
                ],
            )

        migrate.upgrade(database_url)

        table = DeadLetter.__table__
        with engine.connect() as conn:
            stored = conn.execute(
                select(table.c.origin, table.c.raw, table.c.content_key).order_by(table.c.id)
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in stored] == [
        ("/var/log/a.json", b"{bad", dead_letter_key("wazuh", b"{bad")),
        ("/var/log/a.json", b"{other", dead_letter_key("wazuh", b"{other")),
    ]


def test_incidents_opened_twice_for_one_alert_are_merged_into_the_oldest(database_url: str) -> None:
    migrate.upgrade(database_url, "0010_alert_rollups")
    at = utcnow()
    incident = {"title": "t", "state": "new", "severity": 2, "created_at": at, "updated_at": at}
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for row in (
                {"alert_uuid": "a-1", "jira_key": None, "thehive_id": None},
                {"alert_uuid": "a-1", "jira_key": "SOC-7", "thehive_id": None},
                {"alert_uuid": "a-2", "jira_key": None, "thehive_id": "~42"},
                {"alert_uuid": "a-1", "jira_key": "SOC-8", "thehive_id": None},
            ):
                conn.execute(
                    text(
                        "INSERT INTO incident (alert_uuid, title, state, severity, jira_key, thehive_id,"
                        " created_at, updated_at) VALUES (:alert_uuid, :title, :state, :severity,"
                        " :jira_key, :thehive_id, :created_at, :updated_at)"
                    ),
                    {**incident, **row},
                )
            for incident_id, comment in ((1, "first"), (2, "second"), (3, "other alert"), (4, "third")):
                conn.execute(
                    text(
                        "INSERT INTO incident_event (incident_id, at, actor, to_state, comment)"
                        " VALUES (:i, :at, 'x', 'new', :c)"
                    ),
                    {"i": incident_id, "at": at, "c": comment},
                )

        migrate.upgrade(database_url)

        with engine.connect() as conn:
            kept = conn.execute(
                text("SELECT id, alert_uuid, jira_key, thehive_id FROM incident ORDER BY id")
            ).all()
            history = conn.execute(text("SELECT incident_id, comment FROM incident_event ORDER BY id")).all()
        unique = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("incident") if ix["unique"]}
    finally:
        engine.dispose()
    assert [tuple(r) for r in kept] == [(1, "a-1", "SOC-7", None), (3, "a-2", None, "~42")]
    assert [tuple(r) for r in history] == [(1, "first"), (1, "second"), (3, "other alert"), (1, "third")]
    assert ("alert_uuid",) in unique
