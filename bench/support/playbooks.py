"""Playbooks for bench/trigger_latency.py; run as a script it serves `bench-playbook/served`.

No `from __future__ import annotations`: Prefect builds the parameter model from these
annotations when a run starts.
"""

from prefect import flow

from alertmodel import AlertRead


@flow(name="bench-playbook")
def bench_playbook(alert: AlertRead, alerts: list[AlertRead] | None = None) -> str:
    """Does nothing but accept a validated alert: the benchmark measures getting here."""
    return alert.alert_uuid


@flow(name="native-target")
def native_target(alert_uuid: str) -> str:
    """What the native emit_event → automation → RunDeployment path starts."""
    return alert_uuid


if __name__ == "__main__":
    bench_playbook.serve(name="served", limit=2)
