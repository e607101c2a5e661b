"""Attack → block list on the embedded default: Suricata sees a web attack, `alertflow up` blocks it.

The whole path is real: a capture of an HTTP request with sqlmap's user agent from a public
(TEST-NET-3) address goes through Suricata 7 with a local rule; the `eve.json` alert lines are
posted to `alertflow up`'s ingest endpoint (as a log shipper would); a response profile on that
rule runs `block-attacker/always`, whose flow run adds the address to the Suricata IP reputation
list of an `IdsSensor` on a loopback sshd host and checks it there with `suricata -T`. The clock
runs from the moment the alert lines exist (Suricata has finished) to the flow run's end time as
Prefect stored it (the list written and checked). Afterwards the same captures are replayed
through Suricata with the reputation list loaded: each blocked address raises the reputation
rule's alert, and no address did before it was blocked.

Prints {"bench": "attack_to_block", "attacks", "p50_s", "p99_s", "check_p50_s", "created_p50_s",
"started_p50_s", "ran_p50_s", "blocked", "reputation_alerts_before", "reputation_alerts_after"};
`check_p50_s` (the baseline) is `suricata -T` alone on the same list over the same SSH host, the
part of the path no orchestration can remove; the three phases split the latency into alert →
flow run created, created → running (the runner's poll and its process start), running → done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from support.stack import Up, save_sensor_block, ssh_host  # noqa: E402

ATTACK_SID, REPUTATION_SID = 9000101, 9000110
RULES = f"""\
alert http any any -> any any (msg:"ALERTFLOW sqlmap user agent"; flow:established,to_server; http.user_agent; content:"sqlmap"; classtype:web-application-attack; sid:{ATTACK_SID}; rev:1;)
alert ip any any -> any any (msg:"ALERTFLOW block-listed source"; iprep:src,Block,>,50; sid:{REPUTATION_SID}; rev:1;)
"""
PROFILES = f"""\
response_profiles:
  - name: block-web-attackers
    match: {{source: Suricata, event: "{ATTACK_SID}"}}
    actions:
      - {{kind: playbook, deployment: block-attacker/always}}
"""
DEPLOYMENT = "block-attacker/always"
SERVER = "198.51.100.20"


def attacker(n: int) -> str:
    return f"203.0.113.{10 + n}"


def write_capture(path: Path, client: str, sport: int) -> None:
    """One whole HTTP conversation from `client`: handshake, a sqlmap request, a 200, FIN both ways."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    request = b"GET /item?id=1%27%20OR%201=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: sqlmap/1.7.2#stable\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    up = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=client, dst=SERVER)
    down = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IP(src=SERVER, dst=client)
    c, s = 1000, 5000
    packets = [
        up / TCP(sport=sport, dport=80, flags="S", seq=c),
        down / TCP(sport=80, dport=sport, flags="SA", seq=s, ack=c + 1),
        up / TCP(sport=sport, dport=80, flags="A", seq=c + 1, ack=s + 1),
        up / TCP(sport=sport, dport=80, flags="PA", seq=c + 1, ack=s + 1) / Raw(request),
        down / TCP(sport=80, dport=sport, flags="PA", seq=s + 1, ack=c + 1 + len(request)) / Raw(answer),
        up / TCP(sport=sport, dport=80, flags="FA", seq=c + 1 + len(request), ack=s + 1 + len(answer)),
        down / TCP(sport=80, dport=sport, flags="FA", seq=s + 1 + len(answer), ack=c + 2 + len(request)),
        up / TCP(sport=sport, dport=80, flags="A", seq=c + 2 + len(request), ack=s + 2 + len(answer)),
    ]
    for i, packet in enumerate(packets):
        packet.time = 1_700_000_000 + i / 1000
    wrpcap(str(path), packets)


class Sensor:
    """A Suricata sensor's files under a test host's directory: rules, categories, the iprep list."""

    def __init__(self, directory: Path, owner: str) -> None:
        self.dir = directory
        directory.mkdir()
        (directory / "local.rules").write_text(RULES)
        (directory / "categories.txt").write_text("1,Block,blocked by alertflow\n")
        (directory / "blocklist.list").write_text("")
        for path in (directory, *directory.iterdir()):
            shutil.chown(path, owner)

    @property
    def blocklist(self) -> Path:
        return self.dir / "blocklist.list"

    def settings(self) -> list[str]:
        return [
            "-c", "/etc/suricata/suricata.yaml", "-S", str(self.dir / "local.rules"),
            "--set", f"reputation-categories-file={self.dir / 'categories.txt'}",
            "--set", f"default-reputation-path={self.dir}",
            "--set", "reputation-files.0=blocklist.list",
        ]  # fmt: skip

    def check_command(self) -> list[str]:
        return ["suricata", "-T", "-l", "{tmpdir}", *self.settings()]

    def run(self, capture: Path, logs: Path) -> list[dict[str, Any]]:
        """Suricata over `capture`; the alert events of its eve.json."""
        logs.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["suricata", "-r", str(capture), "-l", str(logs), "-k", "none", *self.settings()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"suricata failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        lines = (logs / "eve.json").read_text().splitlines()
        return [e for e in map(json.loads, lines) if e.get("event_type") == "alert"]


async def _check_once(inventory: dict[str, Any], sensor: Sensor) -> float:
    from blocks.credentials import CredentialProfile
    from blocks.host import HostProfile
    from tasks.ssh import run_command

    host = inventory["hosts"][0]
    profile = HostProfile(
        name=host["name"],
        address=host["address"],
        port=host["port"],
        credential=CredentialProfile(username=host["user"], private_key=Path(host["key_path"]).read_text()),
        known_host_keys=[host["host_public_key"]],
    )
    async with await profile.connect() as conn:
        start = time.perf_counter()
        command = [a.replace("{tmpdir}", str(sensor.dir)) for a in sensor.check_command()]
        out = await run_command(conn, command, timeout_s=120)
        elapsed = time.perf_counter() - start
    if out.exit_status != 0:
        raise RuntimeError(f"suricata -T failed on the sensor host: {out.stderr}")
    return elapsed


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(attacks: int, work: Path) -> dict[str, Any]:
    with ssh_host(work / "hosts") as inventory:
        sensor = Sensor(Path(inventory["hosts"][0]["root"]) / "suricata", inventory["user"])
        data = work / "up" / "data"
        data.parent.mkdir(mode=0o700)
        up = Up(data)
        try:
            return _attack(up, inventory, sensor, attacks, work)
        finally:
            up.stop()


def _attack(up: Up, inventory: dict[str, Any], sensor: Sensor, attacks: int, work: Path) -> dict[str, Any]:
    save_sensor_block(up, inventory, sensor.blocklist, sensor.check_command())
    profiles = work / "profiles.yaml"
    profiles.write_text(PROFILES)
    up.cli("profiles", "import", str(profiles))
    found = up.prefect.get(f"/deployments/name/{DEPLOYMENT}")
    found.raise_for_status()
    deployment_id = found.json()["id"]

    captures, before = [], 0
    latencies: list[float] = []
    phases: dict[str, list[float]] = {"created": [], "started": [], "ran": []}
    for n in range(attacks):
        capture = work / f"attack-{n}.pcap"
        write_capture(capture, attacker(n), 40000 + n)
        captures.append(capture)
        events = sensor.run(capture, work / f"logs-{n}")
        before += sum(e["alert"]["signature_id"] == REPUTATION_SID for e in events)
        lines = [json.dumps(e) for e in events if e["alert"]["signature_id"] == ATTACK_SID]
        if len(lines) != 1:
            raise RuntimeError(f"expected one sqlmap alert from {attacker(n)}, got {len(lines)}")
        started = time.time()
        posted = up.ingest.post("/ingest", content="\n".join(lines) + "\n")
        posted.raise_for_status()
        deadline = time.monotonic() + 120
        while len(done := up.finished_runs(deployment_id)) < n + 1:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no finished block-attacker run for {attacker(n)}:\n{up.output()[-3000:]}"
                )
            time.sleep(0.05)
        run = next(r for r in done if r["parameters"]["alert"]["srcip"] == attacker(n))
        if run["state_type"] != "COMPLETED":
            raise RuntimeError(f"block-attacker for {attacker(n)} ended {run['state_type']}: {run['state']}")
        at = {k: datetime.fromisoformat(run[k]).timestamp() for k in ("created", "start_time", "end_time")}
        latencies.append(at["end_time"] - started)
        phases["created"].append(at["created"] - started)
        phases["started"].append(at["start_time"] - at["created"])
        phases["ran"].append(at["end_time"] - at["start_time"])

    listed = {line.split(",")[0] for line in sensor.blocklist.read_text().splitlines() if line}
    after = 0
    for n, capture in enumerate(captures):
        events = sensor.run(capture, work / f"replay-{n}")
        after += sum(
            e["alert"]["signature_id"] == REPUTATION_SID and e["src_ip"] == attacker(n) for e in events
        )
    checks = [asyncio.run(_check_once(inventory, sensor)) for _ in range(min(attacks, 10))]
    return {
        "bench": "attack_to_block",
        "attacks": attacks,
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(quantile(latencies, 0.99), 3),
        "check_p50_s": round(statistics.median(checks), 3),
        **{f"{phase}_p50_s": round(statistics.median(v), 3) for phase, v in phases.items()},
        "blocked": len(listed & {attacker(n) for n in range(attacks)}),
        "reputation_alerts_before": before,
        "reputation_alerts_after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--attacks", type=int, default=20, help="Attacks from distinct addresses (≥ 20 for p50)."
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="alertflow-attack-"))
    os.chmod(work, 0o755)  # noqa: S103 - the sshd test user enters its host directory below this
    try:
        print(json.dumps(measure(args.attacks, work)), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
