"""Throughput of the pure ingest core (decode + normalize + policy) against orjson.loads alone.

Builds >= 200,000 event lines by cycling the recorded samples (all four sources, alerts and
other events), runs them through one IngestCore in batches of 1,000 lines with a policy of
~50 gray-list entries, and times `orjson.loads` of the same lines in the same run, batch by
batch in turn, in CPU seconds of this process; the better of two passes is reported.
Prints one JSON line: {"bench": "ingest_core", "events_per_s", "baseline_events_per_s", "ratio", ...}.
`--quick` uses 50,000 events.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import time
from pathlib import Path

import orjson

from ingest.core import IngestCore
from ingest.policy import DEFAULT_POLICY_PATH, parse_policy

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "samples"
BATCH = 1000


def sample_lines() -> list[bytes]:
    lines = []
    for source in ("wazuh", "suricata", "falco", "modsecurity"):
        for path in sorted((SAMPLES / source).iterdir()):
            lines.extend(line for line in path.read_bytes().splitlines() if line.strip())
    return lines


def realistic_policy(lines: list[bytes]):
    """The default policy plus gray entries on events that occur in the samples (~50 in all)."""
    data = json.loads(DEFAULT_POLICY_PATH.read_text())
    events = {"hids": [], "nids": [], "crs": [], "waf": []}
    for line in lines:
        e = orjson.loads(line)
        if isinstance(e.get("rule"), dict):
            events["hids"].append(e["rule"]["id"])
        elif e.get("event_type") == "alert":
            events["nids"].append(str(e["alert"]["signature_id"]))
        elif isinstance(e.get("rule"), str):
            events["crs"].append(e["rule"])
    events["waf"] = ["920350", "932160", "942100", "949110", "980130", "980170"]
    template = data["sources"]["hids"]["gray_list"][0]
    host_key = {"hids": "agent", "nids": "host", "waf": "host", "crs": "container"}
    n = 0
    for section, evs in events.items():
        for i, ev in enumerate(sorted(set(evs))[:14]):
            entry = copy.deepcopy(template)
            entry.pop("agent")
            entry["event"] = ev
            entry[host_key[section]] = "indef"
            entry["match"] = "indef" if i % 3 else "e"
            entry["aggregate"] = {"reproduced": 50 if i % 2 else 0, "in_period": 60}
            entry["response"]["new_category"] = f"bench-{section}-{i}"
            entry["response"]["new_severity"] = i % 4
            data["sources"][section]["gray_list"].append(entry)
            n += 1
    while n < 49:  # entries for events that never come, as real policies have
        entry = copy.deepcopy(template)
        entry["event"] = str(900_000 + n)
        data["sources"]["hids"]["gray_list"].append(entry)
        n += 1
    return parse_policy(data, origin="bench"), n + 1


def run(lines: list[bytes], policy) -> tuple[float, float, int]:
    """Core and baseline seconds of CPU time, measured batch by batch in turn.

    Interleaving means a noisy neighbour slows both sides alike; CPU time (not wall time) is
    what "one core" means on a machine shared with other work.
    """
    core = IngestCore(node="bench", policy=policy)
    loads = orjson.loads
    clock = time.process_time
    core_s = base_s = 0.0
    emitted = 0
    for i in range(0, len(lines), BATCH):
        batch = lines[i : i + BATCH]
        t0 = clock()
        for line in batch:
            loads(line)
        t1 = clock()
        emitted += len(core.process(batch).alerts)
        t2 = clock()
        base_s += t1 - t0
        core_s += t2 - t1
    return core_s, base_s, emitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 events instead of 200,000")
    parser.add_argument("--events", type=int, default=None)
    args = parser.parse_args()
    n = args.events or (50_000 if args.quick else 200_000)
    samples = sample_lines()
    lines = [samples[i % len(samples)] for i in range(n)]
    policy, entries = realistic_policy(samples)
    gc.collect()
    core_s, baseline_s, emitted = min(run(lines, policy) for _ in range(2))
    events_per_s = n / core_s
    baseline_per_s = n / baseline_s
    print(
        json.dumps(
            {
                "bench": "ingest_core",
                "events": n,
                "gray_list_entries": entries,
                "emitted": emitted,
                "mean_line_bytes": round(sum(map(len, lines)) / n),
                "events_per_s": round(events_per_s),
                "baseline_events_per_s": round(baseline_per_s),
                "ratio": round(events_per_s / baseline_per_s, 3),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
