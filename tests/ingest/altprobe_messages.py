"""Alertflex collector (Altprobe) messages with exactly the properties it sets.

The property names, order and types follow Altprobe's `Controller::SendMessage` (repository
alertflex/altprobe, src/controller.cpp at c7b7b75, GPL-3.0): int and boolean properties travel
as their decimal / true-false text over STOMP. The values are made up for the tests.
"""

from __future__ import annotations

from typing import Any

from ingest.altprobe import ALERT_PROPERTIES, gzip_report


def alert_properties(**overrides: Any) -> dict[str, str]:
    """A Wazuh alert as the collector forwards it (filtered by its policy `alertflex-node1`)."""
    values = {
        "msg_type": "1",
        "ref_id": "tenant-a",
        "node": "collector-07",
        "alert_uuid": "0d9a1c1e-3f5b-4c2a-9e71-5b3c8d2f6a10",
        "alert_source": "Wazuh",
        "alert_type": "HOST",
        "probe": "collector-07.hids",
        "alert_severity": "2",
        "description": "sshd: authentication failed.",
        "event_id": "5716",
        "event_severity": "5",
        "location": "/var/log/auth.log",
        "action": "indef",
        "status": "processed",
        "filter": "alertflex-node1",
        "info": "Failed password for root from 198.51.100.23 port 52144 ssh2",
        "event_time": "2026-12-01 03:10:11",
        "collr_time": "2026-12-01 03:10:12",
        "user_name": "root",
        "agent_name": "web-01",
        "categories": "syslog, sshd, authentication_failed",
        "src_ip": "198.51.100.23",
        "dst_ip": "10.0.0.5",
        "src_hostname": "indef",
        "dst_hostname": "web-01",
        "src_port": "52144",
        "dst_port": "22",
        "reg_value": "indef",
        "file_name": "indef",
        "hash_md5": "indef",
        "hash_sha1": "indef",
        "hash_sha256": "indef",
        "process_id": "0",
        "process_name": "sshd",
        "process_cmdline": "indef",
        "process_path": "indef",
        "url_hostname": "indef",
        "url_path": "indef",
        "container_id": "indef",
        "container_name": "indef",
        "cloud_instance": "indef",
        "log_alert": "false",
    }
    assert tuple(values) == ALERT_PROPERTIES
    return {**values, **overrides}


STATS = {
    "stats": [
        {
            "type": "node_alerts",
            "data": {
                "ref_id": "tenant-a",
                "crs_agg": 0,
                "crs_filter": 1,
                "crs_s0": 0,
                "crs_s1": 2,
                "crs_s2": 0,
                "crs_s3": 0,
                "hids_agg": 3,
                "hids_filter": 40,
                "hids_s0": 10,
                "hids_s1": 5,
                "hids_s2": 2,
                "hids_s3": 1,
                "nids_agg": 0,
                "nids_filter": 7,
                "nids_s0": 0,
                "nids_s1": 12,
                "nids_s2": 4,
                "nids_s3": 0,
                "waf_agg": 0,
                "waf_filter": 0,
                "waf_s0": 0,
                "waf_s1": 0,
                "waf_s2": 3,
                "waf_s3": 1,
            },
        }
    ]
}


def stats_message() -> tuple[dict[str, str], bytes]:
    """A statistics report: its properties and its gzip body (with the trailing NUL)."""
    return {
        "msg_type": "1",
        "ref_id": "tenant-a",
        "node_id": "collector-07",
        "host_name": "sensor-07",
    }, gzip_report(STATS)
