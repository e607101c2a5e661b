"""Hostile alerts: real sample events of every source with markup, script and quotes in their text fields.

Each event is the first alerting line of a shared sample (see tests/fixtures/samples/README.md
for provenance and licences) with PAYLOAD appended to every text value that is not a time,
an address, a port or an id, and `javascript:` URLs where the event carries a URL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parents[2] / "fixtures" / "samples"
# `window.__xss` is what the browser test watches; alert() would open a dialog it also watches.
PAYLOAD = (
    "<script>window.__xss=1;alert(1)</script>"
    '"><img src=x onerror="window.__xss=1;alert(2)">'
    "'><svg onload=alert(3)>"
    "javascript:alert(4)"
)
JAVASCRIPT_URL = "javascript:window.__xss=1;alert(5)//"
SOURCES = {
    "suricata": "suricata/eve-7.0.10-alerts.json",
    "wazuh": "wazuh/wazuh-integratord-test-alert-5712.json",
    "falco": "falco/elastic-falco_alerts-test-falco.log",
    "modsecurity": "modsecurity/nginx-1.22.1-modsecurity-3.0.9-crs-3.3.4-live-audit.log",
}
_KEEP = re.compile(
    r"(time|timestamp|date|_ip$|^ip$|ip$|address|port|^id$|_id$|proto|event_type|level|priority|"
    r"severity|flow|community|md5|sha|payload|pcap|status|http_code|method|version|^tx|gid|rev|"
    r"signature_id|ruleId|^rule$|^data$|^agent$|^manager$|^decoder$|client_ip|host_ip|remote|local)",
    re.IGNORECASE,
)
_URL_KEYS = {"url", "uri"}


def poison(value: Any, key: str = "") -> Any:
    """`value` with PAYLOAD appended to its text values (recursively), times, addresses and ids kept."""
    if isinstance(value, dict):
        return {k: poison(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [poison(v, key) for v in value]
    if isinstance(value, str):
        if key.lower() in _URL_KEYS:
            return JAVASCRIPT_URL
        if _KEEP.search(key) or value.startswith("{"):
            return value
        return value + PAYLOAD
    return value


def first_alerting_line(path: Path) -> dict[str, Any]:
    """The first event of a sample that a sensor raised as an alert."""
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        if event.get("event_type", "alert") != "alert":
            continue
        messages = event.get("transaction", {}).get("messages")
        if messages is not None and not messages:
            continue
        return event
    raise ValueError(f"{path} has no alerting line")


def write_hostile_samples(directory: Path) -> list[Path]:
    """One JSON-lines file per source holding its poisoned event; the paths."""
    paths = []
    for source, sample in SOURCES.items():
        path = directory / f"hostile-{source}.json"
        path.write_text(json.dumps(poison(first_alerting_line(SAMPLES / sample))) + "\n")
        paths.append(path)
    return paths
