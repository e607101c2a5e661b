"""Web servers with ModSecurity and the OWASP CRS 3.3 on loopback ports (Apache 2.4 +
ModSecurity 2.9, nginx 1.22 + ModSecurity 3.0): real attacks and benign requests over TCP,
the JSON audit log through `alertflow ingest-file`, and exactly the CRS alerts expected
stored, with severities translated by the shipped policy (waf ladder 5/4/3: CRITICAL → 3,
WARNING → 1; CRS's correlation rule 980130 has no severity and stays under the threshold)
and CRS tags as categories. Benign requests make no alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.sensors.kit import ingest_file
from tests.integration.sensors.web_sensor import WebSensor, remove, send, start_apache, start_nginx, stop


def _get(target: str, *headers: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"GET {target} {version}", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode()


BROWSER = (
    "Host: localhost",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101",
    "Accept: text/html",
)
ATTACKS = {
    "sql injection": (_get("/?id=1%27%20UNION%20SELECT%20password%20FROM%20users--%20", *BROWSER), 403),
    "xss": (_get("/?q=%3Cscript%3Ealert(1)%3C/script%3E", *BROWSER), 403),
    "path traversal": (_get("/?file=../../../../etc/passwd", *BROWSER), 403),
    "scanner": (
        _get("/index.html?from=scanner", "Host: localhost", "User-Agent: Nikto/2.1.6", "Accept: */*"),
        403,
    ),
    # HTTP/1.0 without a Host header: CRS 920280, a warning that does not reach the blocking score.
    "protocol violation": (
        _get("/index.html?from=old-client", "User-Agent: Mozilla/5.0", "Accept: */*", version="HTTP/1.0"),
        200,
    ),
}
# A numeric Host header ("127.0.0.1:PORT") trips CRS 920350, so benign clients say "localhost".
BENIGN = {
    "page": _get("/index.html", *BROWSER),
    "query": _get("/index.html?page=2&sort=price&q=blue+shoes", *BROWSER),
    "http/1.0 with host": _get("/index.html?lang=en", *BROWSER, version="HTTP/1.0"),
}
EXPECTED_V2 = {  # ModSecurity 2.9 (Apache): request → the (CRS rule id, severity after the policy) it stores
    "sql injection": [("942100", 3), ("942190", 3), ("942270", 3), ("942360", 3), ("949110", 3)],
    "xss": [("941100", 3), ("941110", 3), ("941160", 3), ("949110", 3)],
    "path traversal": [("930100", 3)] * 2
    + [("930110", 3)] * 4
    + [("930120", 3), ("932160", 3), ("949110", 3)],
    "scanner": [("913100", 3), ("949110", 3)],
    "protocol violation": [("920280", 1)],
}
EXPECTED_V3 = {  # ModSecurity 3.0 (nginx) reports each multiMatch rule once per variable, not per transformation
    **EXPECTED_V2,
    "path traversal": [("930100", 3)] + [("930110", 3)] * 2 + [("930120", 3), ("932160", 3), ("949110", 3)],
}
# libmodsecurity 3.0.9 drops the tags of multiMatch rules from its audit log (ModSecurity
# issue #2754, fixed upstream later): those alerts are stored without categories.
UNTAGGED_V3 = {"942100", "930110"}
DESCRIPTIONS = {
    "942100": "SQL Injection Attack Detected via libinjection",
    "941110": "XSS Filter - Category 1: Script Tag Vector",
    "930100": "Path Traversal Attack (/../)",
    "930120": "OS File Access Attempt",
    "913100": "Found User-Agent associated with security scanner",
    "920280": "Request Missing a Host Header",
}
ATTACK_TAG = {  # the CRS attack-* tag each rule carries, stored as a category
    "942100": "attack-sqli",
    "942190": "attack-sqli",
    "942270": "attack-sqli",
    "942360": "attack-sqli",
    "941100": "attack-xss",
    "941110": "attack-xss",
    "941160": "attack-xss",
    "930100": "attack-lfi",
    "930110": "attack-lfi",
    "930120": "attack-lfi",
    "932160": "attack-rce",
    "913100": "attack-reputation-scanner",
    "920280": "attack-protocol",
    "949110": "attack-generic",
}


SERVERS: dict[str, tuple[Callable[[], WebSensor], dict[str, list[tuple[str, int]]], set[str]]] = {
    "apache-modsecurity2": (start_apache, EXPECTED_V2, set()),
    "nginx-modsecurity3": (start_nginx, EXPECTED_V3, UNTAGGED_V3),
}


@pytest.fixture(params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[WebSensor, dict[str, Any], set[str]]]:
    start, expected, untagged = SERVERS[request.param]
    instance = start()
    try:
        yield instance, expected, untagged
    finally:
        remove(instance)


def test_crs_alerts_from_real_attacks_are_stored_exactly_and_benign_requests_make_none(
    server: tuple[WebSensor, dict[str, Any], set[str]], tmp_path: Path
) -> None:
    sensor, expected, untagged = server
    client_ports = {}
    for name, request in BENIGN.items():
        assert send(sensor.port, request)[0] == 200, name
    for name, (request, status) in ATTACKS.items():
        answered, client_ports[name] = send(sensor.port, request)
        assert answered == status, name
    audit = tmp_path / "audit.json"
    stop(sensor)  # the audit log is complete once the server has exited
    audit.write_bytes(sensor.audit_log.read_bytes())

    alerts = ingest_file(audit, "modsecurity", tmp_path)

    by_request: dict[str, list[dict]] = {}
    port_to_name = {port: name for name, port in client_ports.items()}
    for alert in alerts:
        assert alert["srcport"] in port_to_name, f"an alert from no attack: {alert}"
        by_request.setdefault(port_to_name[alert["srcport"]], []).append(alert)
    assert {
        name: sorted((a["event"], a["severity"]) for a in got) for name, got in by_request.items()
    } == expected
    for name, got in by_request.items():
        for alert in got:
            assert alert["source"] == "ModSecurity"
            assert (alert["srcip"], alert["dstip"], alert["dstport"]) == (
                "127.0.0.1",
                "127.0.0.1",
                sensor.port,
            )
            assert alert["url"] == ATTACKS[name][0].split(b" ")[1].decode()
            if alert["event"] in untagged:
                assert alert["category"] == "indef", alert
                continue
            categories = alert["category"].split(", ")
            assert ATTACK_TAG[alert["event"]] in categories, alert
            if alert["event"] != "949110":  # the anomaly-score rule has no OWASP_CRS tag
                assert {"OWASP_CRS", "paranoia-level/1"} <= set(categories), alert
    descriptions = {a["event"]: a["description"] for a in alerts}
    assert {rule: descriptions[rule] for rule in DESCRIPTIONS} == DESCRIPTIONS
    assert descriptions["949110"].startswith("Inbound Anomaly Score Exceeded (Total Score: ")
    assert "980130" not in descriptions
