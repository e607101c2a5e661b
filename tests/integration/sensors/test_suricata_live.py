"""Suricata 7 reads a capture this test writes (scapy: two HTTP sessions, a DNS query, an ICMP
packet of an unknown type) with three local rules plus Suricata's own decoder-event rules;
its `eve.json` goes through `alertflow ingest-file`, and exactly the expected alerts are stored.

Addresses in a pcap are only bytes: nothing is sent anywhere.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from ingest.policy import DEFAULT_POLICY_PATH
from tests.ingest.events import wait_for
from tests.integration.ingest_kit import WorkerProcess
from tests.integration.sensors.kit import cli_env, ingest_file, new_store, required_tool, stored_alerts

DECODER_EVENT_RULES = Path("/etc/suricata/rules/decoder-events.rules")
LOCAL_RULES = """\
alert http any any -> any any (msg:"ALERTFLOW TEST sqlmap user agent"; flow:established,to_server; http.user_agent; content:"sqlmap"; classtype:web-application-attack; sid:9000001; rev:1;)
alert http any any -> any any (msg:"ALERTFLOW TEST UNION SELECT in URI"; flow:established,to_server; http.uri; content:"UNION"; nocase; content:"SELECT"; nocase; distance:0; classtype:web-application-attack; sid:9000002; rev:1;)
alert dns any any -> any any (msg:"ALERTFLOW TEST DNS query for exfil domain"; dns.query; content:"exfil.bad.example"; classtype:policy-violation; sid:9000003; rev:1;)
"""
CLIENT_MAC, SERVER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
T0 = 1_700_000_000.0


def _http_session(client: str, server: str, sport: int, request: bytes, t0: float) -> list[Packet]:
    """A whole TCP conversation on port 80: handshake, one request, a 200 answer, FIN both ways."""
    up, down = Ether(src=CLIENT_MAC, dst=SERVER_MAC), Ether(src=SERVER_MAC, dst=CLIENT_MAC)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    c, s = 1000, 5000
    to_server = up / IP(src=client, dst=server)
    to_client = down / IP(src=server, dst=client)
    packets = [
        to_server / TCP(sport=sport, dport=80, flags="S", seq=c),
        to_client / TCP(sport=80, dport=sport, flags="SA", seq=s, ack=c + 1),
        to_server / TCP(sport=sport, dport=80, flags="A", seq=c + 1, ack=s + 1),
        to_server / TCP(sport=sport, dport=80, flags="PA", seq=c + 1, ack=s + 1) / Raw(request),
        to_client / TCP(sport=80, dport=sport, flags="PA", seq=s + 1, ack=c + 1 + len(request)) / Raw(answer),
        to_server / TCP(sport=sport, dport=80, flags="FA", seq=c + 1 + len(request), ack=s + 1 + len(answer)),
        to_client / TCP(sport=80, dport=sport, flags="FA", seq=s + 1 + len(answer), ack=c + 2 + len(request)),
        to_server / TCP(sport=sport, dport=80, flags="A", seq=c + 2 + len(request), ack=s + 2 + len(answer)),
    ]
    for i, packet in enumerate(packets):
        packet.time = t0 + i / 1000
    return packets


def _capture(path: Path) -> None:
    attack = (
        b"GET /search?q=1%20UNION%20SELECT%20password%20FROM%20users HTTP/1.1\r\n"
        b"Host: shop.example\r\nUser-Agent: sqlmap/1.7.2#stable\r\n\r\n"
    )
    benign = b"GET /index.html HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0\r\n\r\n"
    dns = Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src="192.0.2.12", dst="198.51.100.53")
    dns = dns / UDP(sport=53000, dport=53) / DNS(rd=1, qd=DNSQR(qname="exfil.bad.example"))
    dns.time = T0 + 2
    icmp = Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src="192.0.2.13", dst="198.51.100.20") / ICMP(type=99)
    icmp.time = T0 + 3
    wrpcap(
        str(path),
        [
            *_http_session("192.0.2.10", "198.51.100.20", 40001, attack, T0),
            *_http_session("192.0.2.11", "198.51.100.20", 40002, benign, T0 + 1),
            dns,
            icmp,
        ],
    )


EXPECTED = [  # (sid, srcip, srcport, dstip, dstport, proto, severity after the policy, category)
    ("2200024", "192.0.2.13", 0, "198.51.100.20", 0, "ICMP", 1, "Generic Protocol Command Decode"),
    ("9000001", "192.0.2.10", 40001, "198.51.100.20", 80, "TCP", 3, "Web Application Attack"),
    ("9000002", "192.0.2.10", 40001, "198.51.100.20", 80, "TCP", 3, "Web Application Attack"),
    ("9000003", "192.0.2.12", 53000, "198.51.100.53", 53, "UDP", 3, "Potential Corporate Privacy Violation"),
]


def _run_suricata(tmp_path: Path, logs: Path) -> None:
    """Write the capture and the rules, run Suricata over them; its eve.json lands in `logs`."""
    suricata = required_tool("suricata")
    assert DECODER_EVENT_RULES.exists(), f"{DECODER_EVENT_RULES} missing: reinstall suricata"
    rules = tmp_path / "test.rules"
    rules.write_text(LOCAL_RULES + DECODER_EVENT_RULES.read_text())
    capture = tmp_path / "traffic.pcap"
    _capture(capture)
    logs.mkdir(exist_ok=True)
    run = subprocess.run(
        [suricata, "-r", str(capture), "-S", str(rules), "-l", str(logs), "-k", "none"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "read 1 file, 18 packets" in run.stdout + run.stderr


def _check(alerts: list[dict[str, Any]]) -> None:
    got = sorted(
        tuple(
            a[c] for c in ("event", "srcip", "srcport", "dstip", "dstport", "proto", "severity", "category")
        )
        for a in alerts
    )
    assert got == EXPECTED
    by_sid = {a["event"]: a for a in alerts}
    assert {a["source"] for a in alerts} == {"Suricata"}
    assert by_sid["9000001"]["description"] == "ALERTFLOW TEST sqlmap user agent"
    assert by_sid["9000002"]["url"] == "shop.example/search?q=1%20UNION%20SELECT%20password%20FROM%20users"
    assert by_sid["2200024"]["description"] == "SURICATA ICMPv4 unknown type"


def test_suricata_alerts_on_a_written_capture_are_stored_exactly(tmp_path: Path) -> None:
    logs = tmp_path / "log"
    _run_suricata(tmp_path, logs)
    _check(ingest_file(logs / "eve.json", "suricata", tmp_path))


def test_the_ingest_worker_tailing_eve_json_stores_the_same_alerts(tmp_path: Path) -> None:
    """`alertflow ingest --source file:eve.json` started before Suricata has written anything."""
    logs = tmp_path / "log"
    logs.mkdir()
    url = new_store(tmp_path)
    worker = WorkerProcess(
        ["--source", f"file:{logs / 'eve.json'}", "--policy", str(DEFAULT_POLICY_PATH), "--no-dispatch"],
        cli_env(url),
        tmp_path / "worker.log",
    )
    try:
        _run_suricata(tmp_path, logs)
        wait_for(
            lambda: len(stored_alerts(url)) >= len(EXPECTED), 60, f"the worker to store: {worker.tail()}"
        )
    finally:
        assert worker.terminate() == 0, worker.tail()
    _check(stored_alerts(url))
