from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from alertmodel import Outbox, PlaybookRun, ResponseGroup
from alertmodel.engine import make_engine
from response.outbox_writer import ResponseHook
from tests.alertfactory import import_profiles, make_alert, store_batch

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def outbox(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(Outbox.__table__).order_by(Outbox.__table__.c.id)).all()


def runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(PlaybookRun.__table__).order_by(PlaybookRun.__table__.c.id)).all()


def scan_profile(**extra: Any) -> dict[str, Any]:
    return {
        "response_profiles": [
            {
                "name": "nmap",
                "match": {"source": "Suricata", "event": "2019284"},
                "actions": [{"kind": "playbook", "deployment": "block-ip/default"}, {"kind": "incident"}],
                **extra,
            }
        ]
    }


def test_each_firing_action_becomes_one_outbox_row_in_the_batch(engine: Engine) -> None:
    import_profiles(engine, scan_profile())
    alerts = [make_alert(), make_alert(event="other")]
    store_batch(engine, alerts, ResponseHook(clock=Clock()))
    rows = outbox(engine)
    uuid = alerts[0]["alert_uuid"]
    assert [(r.kind, r.key, r.state) for r in rows] == [
        ("playbook", f"{uuid}:nmap:0", "pending"),
        ("incident", f"{uuid}:nmap:1", "pending"),
    ]
    assert rows[0].payload == {
        "profile": "nmap",
        "action_index": 0,
        "alert_uuid": uuid,
        "action": {"kind": "playbook", "deployment": "block-ip/default"},
    }
    [run] = runs(engine)
    assert (run.alert_uuid, run.profile, run.deployment, run.flow_run_id, run.state) == (
        uuid,
        "nmap",
        "block-ip/default",
        None,
        "pending",
    )


def test_outbox_rows_roll_back_with_the_alerts(engine: Engine) -> None:
    import_profiles(engine, scan_profile())
    hook = ResponseHook(clock=Clock())
    with pytest.raises(RuntimeError, match="batch failed"), engine.begin() as conn:
        from alertmodel.repository import insert_alerts

        rows = [make_alert()]
        insert_alerts(conn, rows)
        hook(conn, rows)
        raise RuntimeError("batch failed")
    assert outbox(engine) == [] and runs(engine) == []


def test_no_profiles_means_no_outbox_rows(engine: Engine) -> None:
    store_batch(engine, [make_alert()], ResponseHook())
    assert outbox(engine) == []


def test_rate_limit_fires_at_most_n_times_per_key_and_window_across_restarts(engine: Engine) -> None:
    import_profiles(engine, scan_profile(rate_limit={"max": 2, "per_seconds": 600, "key": "srcip"}))
    clock = Clock()
    store_batch(engine, [make_alert(srcip="10.0.0.1") for _ in range(3)], ResponseHook(clock=clock))
    # a restarted worker (new hook) sees the same window in the database
    restarted = ResponseHook(clock=clock)
    store_batch(engine, [make_alert(srcip="10.0.0.1"), make_alert(srcip="10.0.0.2")], restarted)
    assert restarted.counts["rate_limited"] == 1
    fired = [r.alert_uuid for r in runs(engine)]
    assert len(fired) == 3  # two for 10.0.0.1, one for 10.0.0.2
    clock.now = T0 + timedelta(seconds=600)
    store_batch(engine, [make_alert(srcip="10.0.0.1")], restarted)
    assert len(runs(engine)) == 4
    assert len(outbox(engine)) == 8


def test_grouped_profile_fires_once_per_key_and_window_and_records_the_rest_against_the_run(
    engine: Engine,
) -> None:
    import_profiles(engine, scan_profile(group={"key": "srcip", "window_seconds": 300}))
    clock = Clock()
    hook = ResponseHook(clock=clock)
    first = [make_alert(srcip="10.0.0.1"), make_alert(srcip="10.0.0.1"), make_alert(srcip="10.0.0.2")]
    store_batch(engine, first, hook)
    clock.now = T0 + timedelta(seconds=299)
    later = make_alert(srcip="10.0.0.1")
    store_batch(engine, [later], ResponseHook(clock=clock))
    assert [r.payload["alert_uuid"] for r in outbox(engine) if r.kind == "playbook"] == [
        first[0]["alert_uuid"],
        first[2]["alert_uuid"],
    ]
    by_alert = {r.alert_uuid: r for r in runs(engine)}
    lead = first[0]["alert_uuid"]
    assert by_alert[lead].group_lead == lead and by_alert[lead].state == "pending"
    for member in (first[1], later):
        assert by_alert[member["alert_uuid"]].group_lead == lead
        assert by_alert[member["alert_uuid"]].state == "grouped"
    with engine.connect() as conn:
        group = conn.execute(
            select(ResponseGroup.__table__).where(ResponseGroup.__table__.c.group_key == "10.0.0.1")
        ).one()
    assert group.alert_count == 3
    # the window closed: the next alert of that key leads a new group
    clock.now = T0 + timedelta(seconds=300)
    after = make_alert(srcip="10.0.0.1")
    store_batch(engine, [after], ResponseHook(clock=clock))
    assert outbox(engine)[-2].payload["alert_uuid"] == after["alert_uuid"]
    assert {r.alert_uuid: r for r in runs(engine)}[after["alert_uuid"]].group_lead == after["alert_uuid"]


def test_alert_joining_a_group_whose_run_exists_records_that_flow_run_id(engine: Engine) -> None:
    import_profiles(engine, scan_profile(group={"key": "srcip", "window_seconds": 300}))
    clock = Clock()
    lead = make_alert()
    store_batch(engine, [lead], ResponseHook(clock=clock))
    from response.playbook_runs import record_flow_run

    record_flow_run(engine, lead["alert_uuid"], "nmap", "0b6f4c8e-6f3c-4c47-9a53-6a1f2a0c1d11", "SCHEDULED")
    member = make_alert()
    store_batch(engine, [member], ResponseHook(clock=clock))
    assert {r.alert_uuid: r.flow_run_id for r in runs(engine)}[member["alert_uuid"]] == (
        "0b6f4c8e-6f3c-4c47-9a53-6a1f2a0c1d11"
    )


def test_hook_picks_up_newly_imported_profiles_without_restarting(engine: Engine) -> None:
    hook = ResponseHook(clock=Clock())
    store_batch(engine, [make_alert()], hook)
    import_profiles(engine, scan_profile())
    store_batch(engine, [make_alert()], hook)
    assert len(outbox(engine)) == 2
