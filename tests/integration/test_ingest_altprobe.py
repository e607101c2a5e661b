"""An Alertflex collector feeding alertflow: Altprobe's alert and statistics messages, with exactly
the properties it sets, sent through the real ActiveMQ broker to the ingest worker and MariaDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import stomp
from sqlalchemy import Engine, select

from alertmodel import Alert, NodeStats, migrate
from alertmodel.engine import make_engine
from ingest.core import IngestCore
from ingest.policy import DEFAULT_POLICY_PATH, load_policy
from ingest.sources.stomp import StompSource
from ingest.worker import Worker
from tests.ingest.altprobe_messages import STATS, alert_properties, stats_message
from tests.ingest.events import count_alerts, dead_letter_reasons, wait_for
from tests.integration.ingest_kit import STOMP_HOST, STOMP_PORT, require_broker

pytestmark = pytest.mark.integration


@pytest.fixture
def mariadb(mariadb_database: str) -> Iterator[Engine]:
    migrate.upgrade(mariadb_database)
    engine = make_engine(mariadb_database)
    yield engine
    engine.dispose()


def send(destination: str, messages: list[tuple[dict[str, str], bytes]]) -> None:
    """Send as the collector does: properties as headers; a TextMessage has no content-length."""
    conn = stomp.Connection12([(STOMP_HOST, STOMP_PORT)], auto_content_length=False)
    conn.connect(wait=True)
    try:
        for headers, body in messages:
            extra = {"content-length": str(len(body))} if body else {}  # a body with a length: a BytesMessage
            conn.send(destination, body, headers={**headers, **extra, "persistent": "true"})
    finally:
        conn.disconnect(receipt="sent")


def test_collector_alerts_and_statistics_through_activemq_are_stored_as_the_collector_made_them(
    mariadb: Engine,
) -> None:
    require_broker()
    alerts_queue = f"/queue/alertflow-altprobe-alerts-{uuid.uuid4().hex[:8]}"
    info_queue = f"/queue/alertflow-altprobe-info-{uuid.uuid4().hex[:8]}"
    filtered = alert_properties()
    unfiltered_low = alert_properties(
        filter="indef", event_severity="3", alert_uuid=str(uuid.uuid4()), description="below the threshold"
    )
    unfiltered_high = alert_properties(
        filter="indef", event_severity="12", alert_severity="1", alert_uuid=str(uuid.uuid4()), event_id="5763"
    )
    send(alerts_queue, [(filtered, b""), (unfiltered_low, b""), (unfiltered_high, b""), (filtered, b"")])
    stats_headers, stats_body = stats_message()
    send(info_queue, [(stats_headers, stats_body), ({**stats_headers}, b"\x1f\x8b\x08broken")])

    sources = [
        StompSource(STOMP_HOST, STOMP_PORT, q, prefetch=50, reconnect_max_s=1.0)
        for q in (alerts_queue, info_queue)
    ]
    core = IngestCore(node="controller", policy=load_policy(DEFAULT_POLICY_PATH))
    worker = Worker(mariadb, core, sources, batch_size=50, batch_wait_s=0.05, retry_max_s=0.5)  # type: ignore[arg-type]
    worker.start()
    try:
        wait_for(lambda: sum(s.acked for s in sources) >= 6, timeout=60, what="every message acked")
    finally:
        worker.request_stop()
        assert worker.wait(60), "the worker did not drain"

    with mariadb.connect() as conn:
        rows = conn.execute(
            select(
                Alert.alert_uuid,
                Alert.node_id,
                Alert.ref_id,
                Alert.event,
                Alert.severity,
                Alert.filter,
                Alert.srcip,
            ).order_by(Alert.event)  # type: ignore[arg-type]
        ).all()
        stats = conn.execute(
            select(NodeStats.node_id, NodeStats.ref_id, NodeStats.host_name, NodeStats.stats)
        ).all()
    # the filtered alert once (sent twice: same alert_uuid); the low unfiltered one dropped by the threshold
    assert [tuple(r) for r in rows] == [
        (filtered["alert_uuid"], "collector-07", "tenant-a", "5716", 2, "alertflex-node1", "198.51.100.23"),
        (
            unfiltered_high["alert_uuid"],
            "collector-07",
            "tenant-a",
            "5763",
            3,
            "alertflow-default",
            "198.51.100.23",
        ),
    ]
    assert count_alerts(mariadb) == (2, 2)
    assert [(s.node_id, s.ref_id, s.host_name, s.stats) for s in stats] == [
        ("collector-07", "tenant-a", "sensor-07", STATS["stats"])
    ]
    [reason] = dead_letter_reasons(mariadb)
    assert "altprobe stats: the body is not gzip" in reason
