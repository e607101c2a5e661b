"""The connector's query dialect: every operator it writes selects the right alerts, hostile text is data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.pool import StaticPool

from alertflow.api.alert_queries import ALERTS, c
from alertflow.api.stix_query import MAX_DEPTH, MAX_QUERY_LENGTH, QueryError, parse
from alertmodel.rollup import AlertRollup
from tests.alertfactory import make_alert, store_batch

PREFIX = "SELECT a FROM Alert a WHERE "
ROWS = {
    "ssh": make_alert(
        srcip="10.0.0.1",
        dstip="192.168.1.7",
        srcport=51000,
        dstport=22,
        process="sshd",
        user="root",
        agent="a1",
        severity=3,
        source="Wazuh",
        event="5",
        file="x",
        hash_sha256="ab" * 32,
        hash_md5="cd" * 16,
        hash_sha1="ef" * 20,
        type="HOST",
        node_id="node01",
        time_collr=datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
    ),
    "web": make_alert(
        srcip="10.0.0.2",
        dstip="10.0.0.1",
        srcport=80,
        dstport=40000,
        process="nginx",
        user="www-data",
        agent="a2",
        severity=1,
        source="Suricata",
        event="2001219",
        file="y",
        time_collr=datetime(2025, 6, 1, 10, 0, tzinfo=UTC),
    ),
    "v6": make_alert(
        srcip="2001:db8::1",
        dstip="2001:0db8:0000:0000:0000:0000:0000:0002",
        srcport=0,
        dstport=0,
        user="O'Brien",
        agent="abd",
        severity=2,
        file="C:(x)",
        time_collr=datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC),
    ),
}


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    ALERTS.create(engine)
    AlertRollup.__table__.create(engine)  # store_batch counts the alerts in the dashboard rollups
    store_batch(engine, list(ROWS.values()))
    yield engine
    engine.dispose()


def matches(engine: Engine, where: str) -> set[str]:
    """The names of ROWS that the connector query `PREFIX + where` selects."""
    by_uuid = {row["alert_uuid"]: name for name, row in ROWS.items()}
    with engine.connect() as conn:
        found = conn.execute(select(c.alert_uuid).where(parse(PREFIX + where))).scalars()
        return {by_uuid[u] for u in found}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # the translations the connector writes for STIX patterns, as recorded from it
        ("(a.dstIp = '10.0.0.1' OR a.srcIp = '10.0.0.1')", {"ssh", "web"}),
        ("a.alertSource = 'Suricata' AND a.alertSeverity = '1'", {"web"}),
        ("a.srcPort <= 80 OR a.dstPort > 1024", {"web", "v6"}),
        ("a.processName LIKE '%ssh%'", {"ssh"}),
        ("a.userName LIKE 'root.*'", {"ssh"}),
        ("a.userName LIKE '.+ot'", {"ssh"}),
        (
            "(a.dstIp = '10.0.0.1' OR a.srcIp = '10.0.0.1') AND a.timeCollr BETWEEN "
            "'2024-01-01 00:00:00.000' AND '2024-12-31 23:59:59.000'",
            {"ssh"},
        ),
        ("a.fileName = 'x'", {"ssh"}),
        (f"a.hashSha256 = '{'ab' * 32}'", {"ssh"}),
        (f"a.hashSha1 = '{'ef' * 20}' OR a.hashMd5 = '{'cd' * 16}'", {"ssh"}),
        ("a.agentName != 'a1'", {"web", "v6"}),
        ("a.eventId = '5'", {"ssh"}),
        ("((a.dstIp = '10.0.0.2' OR a.srcIp = '10.0.0.2')) OR (a.fileName = 'x')", {"ssh", "web"}),
        ("NOT ((a.dstIp = '10.0.0.1' OR a.srcIp = '10.0.0.1'))", {"v6"}),
        ("(a.dstIp IN (10.0.0.1 OR 10.0.0.2) OR a.srcIp IN (10.0.0.1 OR 10.0.0.2))", {"ssh", "web"}),
        # operators and spellings beyond the recorded ones
        ("a.agentName > abc", {"v6"}),
        ("a.agentName >= a2 AND a.agentName < abd", {"web"}),
        ("a.alertSeverity >= 2", {"ssh", "v6"}),
        ("a.alertSeverity < '2'", {"web"}),
        ("a.alertSeverity <> 3", {"web", "v6"}),
        ("a.nodeId IN ('node01', 'nope')", {"ssh"}),
        ("a.alertSeverity IN (1, 3)", {"ssh", "web"}),
        ("a.processName NOT LIKE '%ssh%'", {"web", "v6"}),
        ("a.processName LIKE '%%'", {"ssh", "web", "v6"}),
        ("a.alertType = 'HOST' and not a.alertSeverity = '1'", {"ssh"}),
        ("a.timeCollr > '2025-01-01 00:00:00.000'", {"web"}),
        ("a.srcIp = '2001:0db8::0001'", {"v6"}),
        ("a.dstIp = '2001:db8::2'", {"v6"}),
        ("a.srcIp = '10.0.0.0/24'", {"ssh", "web"}),
        ("a.srcIp != '10.0.0.0/24'", {"v6"}),
        # hostile text is only ever a value
        ("a.userName = 'O\\'Brien'", {"v6"}),
        ("a.userName = 'O''Brien'", {"v6"}),
        ("a.fileName = 'C:\\(x\\)'", {"v6"}),
        ("a.fileName = 'x'' OR ''1''=''1'", set()),
        ("a.fileName = 'x\\' OR 1=1 --'", set()),
        ("a.userName = 'root\"; DROP TABLE alert; --'", set()),
        ("a.fileName IN ('x'') OR (''1''=''1')", set()),
    ],
)
def test_a_connector_query_selects_exactly_the_matching_alerts(
    engine: Engine, where: str, expected: set[str]
) -> None:
    assert matches(engine, where) == expected


def test_the_alert_table_survives_every_injection_attempt(engine: Engine) -> None:
    with engine.connect() as conn:
        assert len(conn.execute(select(c.alert_id)).all()) == len(ROWS)


def test_values_are_bound_parameters_never_sql_text() -> None:
    where = parse(PREFIX + "a.fileName = 'x'' OR 1=1 --' OR a.agentName > zz")
    sql = str(where.compile())
    assert "1=1" not in sql and "zz" not in sql
    assert set(where.compile().params.values()) == {"x' OR 1=1 --", "zz"}


def test_keywords_are_case_insensitive_and_whitespace_is_free() -> None:
    assert str(parse("select a from Alert a where\n a.fileName='x'\tor a.srcPort<=1").compile()) == (
        "alert.file = :file_1 OR alert.srcport <= :srcport_1"
    )


@pytest.mark.parametrize(
    "query",
    [
        "",
        "a.fileName = 'x'",
        PREFIX,
        PREFIX + "a.fileName = 'x",
        PREFIX + "a.fileName = 'x'; DROP TABLE alert",
        PREFIX + "a.fileName = 'x' --",
        PREFIX + "(a.fileName = 'x'",
        PREFIX + "a.fileName = 'x')",
        PREFIX + "a.fileName == 'x'",
        PREFIX + "a.fileName LIKE",
        PREFIX + "a.fileName IN ()",
        PREFIX + "a.fileName BETWEEN 'a'",
        PREFIX + "fileName = 'x'",
        PREFIX + "a.fileName = 'x' AND",
        PREFIX + "a.fileName = 'x' UNION SELECT a FROM Account a",
        "DELETE FROM Alert a WHERE a.fileName = 'x'",
        "SELECT a FROM Account a WHERE a.fileName = 'x'",
        "SELECT b FROM Alert a WHERE a.fileName = 'x'",
        "SELECT a FROM Alert a WHERE b.fileName = 'x'",
        PREFIX + "NOT " * (MAX_DEPTH + 1) + "a.fileName = 'x'",
        PREFIX + "a.fileName = '" + "x" * MAX_QUERY_LENGTH + "'",
    ],
)
def test_a_query_that_does_not_parse_is_error_2000(query: str) -> None:
    with pytest.raises(QueryError) as raised:
        parse(query)
    assert raised.value.code == 2000


@pytest.mark.parametrize(
    "where",
    [
        "a.noSuchField = 'x'",
        "a.processId = 5",
        "a.alertSeverity = 'high'",
        "a.srcPort IN (1 OR x)",
        "a.timeCollr BETWEEN 'yesterday' AND 'today'",
        "a.alertSeverity = 9223372036854775808",
        "a.srcPort > -9223372036854775809",
        "a.timeCollr > '0001-01-01 00:00:00'",
        "a.timeCollr > '0001-01-01T00:00:00+01:00'",
    ],
)
def test_an_unknown_field_or_a_value_of_the_wrong_type_is_error_1005(where: str) -> None:
    with pytest.raises(QueryError) as raised:
        parse(PREFIX + where)
    assert raised.value.code == 1005


def test_deep_parentheses_parse_without_recursion() -> None:
    where = "(" * 4000 + "a.fileName = 'x'" + ")" * 4000
    assert str(parse(PREFIX + where).compile()) == "alert.file = :file_1"
