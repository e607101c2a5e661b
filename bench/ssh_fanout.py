"""run_script fan-out: wall time on 50 loopback sshd hosts vs on 1 host (goal: ratio <= 2).

Starts its own hosts with scripts/test-hosts.sh, runs the run_script task body (`.fn`, so
no Prefect API round trips are counted: those are the same for 1 and 50 hosts) and prints
one JSON line per command: {"bench": "ssh_fanout", "hosts": 50, "wall_s_1", "wall_s_50", "ratio", ...}.
Each wall time is the median of the repeats; every run connects afresh (login included).
All 50 sshd servers share this machine's cores with the client, so a command that does no
work measures 50 sshd logins on those cores; `client_cpu_s_*` is the part alertflow spends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from blocks.credentials import CredentialProfile  # noqa: E402
from blocks.host import HostProfile  # noqa: E402
from tasks.ssh import run_script  # noqa: E402

COMMANDS = {
    "sleep 1 (a one-second job)": ["sh", "-c", "sleep 1; uname -n"],
    "true (connection overhead only)": ["true"],
}


def _profiles(inventory: dict) -> list[HostProfile]:
    key = Path(inventory["key_path"]).read_text()
    credential = CredentialProfile(username=inventory["user"], private_key=key)
    return [
        HostProfile(
            name=h["name"],
            address=h["address"],
            port=h["port"],
            credential=credential,
            known_host_keys=[h["host_public_key"]],
        )
        for h in inventory["hosts"]
    ]


async def _wall(hosts: list[HostProfile], command: list[str]) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds for one run_script over `hosts`."""
    started, cpu = time.perf_counter(), time.process_time()
    run = await run_script.fn(hosts, command, concurrency=len(hosts))
    wall = time.perf_counter() - started
    if len(run.results) != len(hosts) or run.failed:
        raise RuntimeError(f"fan-out failed: {[r.error for r in run.failed][:3]}")
    return wall, time.process_time() - cpu


async def _measure(hosts: list[HostProfile], repeats: int) -> list[dict]:
    lines = []
    await _wall(hosts[:1], ["true"])  # warm-up: imports, first key exchange
    for label, command in COMMANDS.items():
        one = [await _wall(hosts[:1], command) for _ in range(repeats)]
        many = [await _wall(hosts, command) for _ in range(repeats)]
        wall_1, wall_n = statistics.median(w for w, _ in one), statistics.median(w for w, _ in many)
        lines.append(
            {
                "bench": "ssh_fanout",
                "hosts": len(hosts),
                "command": label,
                "wall_s_1": round(wall_1, 3),
                "wall_s_50": round(wall_n, 3),
                "ratio": round(wall_n / wall_1, 2),
                "client_cpu_s_1": round(statistics.median(c for _, c in one), 3),
                "client_cpu_s_50": round(statistics.median(c for _, c in many), 3),
                "repeats": repeats,
                "concurrency": len(hosts),
            }
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 repeats instead of 5 (< 1 minute)")
    parser.add_argument("--hosts", type=int, default=50)
    args = parser.parse_args()
    logging.getLogger("prefect.alertflow.tasks").setLevel(logging.WARNING)
    directory = Path(tempfile.mkdtemp(prefix="alertflow-bench-hosts-"))
    script = str(REPO / "scripts/test-hosts.sh")
    subprocess.run(
        ["bash", script, "start", str(directory), str(args.hosts)], check=True, stdout=subprocess.DEVNULL
    )
    try:
        inventory = json.loads((directory / "inventory.json").read_text())
        for line in asyncio.run(_measure(_profiles(inventory), 2 if args.quick else 5)):
            print(json.dumps(line), flush=True)
    finally:
        subprocess.run(["bash", script, "stop", str(directory)], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", str(directory)], check=False)


if __name__ == "__main__":
    main()
