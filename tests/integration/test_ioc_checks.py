"""IOC checks end to end: `alertflow ingest-file --misp-block` on recorded Suricata and Wazuh events,
a MISP block saved on the real Prefect server, MISP's attributes table in a real MariaDB."""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from alertflow.cli.main import app
from alertmodel import migrate
from blocks.misp import MispServer
from tests.tasks.test_misp import MISP_SCHEMA

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
FLOW_IP = "82.165.177.154"  # flow to www.testmyids.com in eve-7.0.10-protocols.json
WIRE_MD5 = "c7d0a1ea4ab73fa3e7cd72fc1eb5b492"  # fileinfo of that download


def _misp_database(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for ddl in MISP_SCHEMA:
            conn.execute(sa.text(ddl))
        conn.execute(
            sa.text(
                "INSERT INTO events (id, org_id, date, info, uuid) VALUES (77, 1, '2026-11-01', 'testmyids campaign', 'e77')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO attributes (event_id, category, type, value1, value2, to_ids, uuid) VALUES "
                "(77, 'Network activity', 'ip-dst', :ip, '', 1, 'a1'), "
                "(77, 'Payload delivery', 'filename|md5', 'index.html', :md5, 1, 'a2'), "
                "(77, 'Payload delivery', 'md5', '896a6493ad8dd456f9a9d919d9c74a5e', '', 1, 'a3')"
            ),
            {"ip": FLOW_IP, "md5": WIRE_MD5},
        )
    engine.dispose()


def test_ingest_file_with_a_misp_block_stores_misp_alerts_for_known_iocs(
    mariadb_database: str, sqlite_database: str, prefect_server: object, monkeypatch: object
) -> None:
    _misp_database(mariadb_database)
    block = f"misp-ioc-{uuid.uuid4().hex[:6]}"
    MispServer(url="https://misp.invalid/", api_key="k" * 40, database_url=mariadb_database).save(block)
    migrate.upgrade(sqlite_database)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", sqlite_database)  # type: ignore[attr-defined]

    result = CliRunner().invoke(
        app,
        [
            "ingest-file",
            str(SAMPLES / "suricata" / "eve-7.0.10-protocols.json"),
            str(SAMPLES / "wazuh" / "wazuh-indexer-sample-alerts-fim-rootcheck.json"),
            "--misp-block",
            block,
            "--ioc-severity",
            "3",
            "--node",
            "sensor1",
        ],
    )
    assert result.exit_code == 0, result.output

    engine = sa.create_engine(sqlite_database)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT event, type, severity, srcip, dstip, hash_md5, info FROM alert WHERE source = 'MISP'"
            )
        ).all()
    engine.dispose()
    by_event: dict[str, list] = {}
    for row in rows:
        by_event.setdefault(row.event, []).append(row)
    assert set(by_event) == {"ioc_ip", "ioc_md5"}
    assert all(r.severity == 3 for r in rows)
    assert any(FLOW_IP in (r.srcip, r.dstip) for r in by_event["ioc_ip"])
    wire = [r for r in by_event["ioc_md5"] if r.hash_md5 == WIRE_MD5]
    fim = [r for r in by_event["ioc_md5"] if r.hash_md5 == "896a6493ad8dd456f9a9d919d9c74a5e"]
    assert wire and all(r.type == "FILE" and "testmyids campaign" in r.info for r in wire)
    assert len(fim) == 1 and fim[0].info.startswith("Wazuh alert ")
    assert "MISP IOC alerts" in result.output


def test_an_unknown_misp_block_is_refused_before_reading_anything(
    sqlite_database: str, prefect_server: object, monkeypatch: object
) -> None:
    migrate.upgrade(sqlite_database)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", sqlite_database)  # type: ignore[attr-defined]
    result = CliRunner().invoke(
        app,
        [
            "ingest-file",
            str(SAMPLES / "suricata" / "eve-7.0.10-protocols.json"),
            "--misp-block",
            "no-such-misp",
        ],
    )
    assert result.exit_code == 2
    assert "cannot use MISP block 'no-such-misp'" in result.output
