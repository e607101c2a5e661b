"""Per-alert cost of response-profile matching with 10 and with 10,000 profiles.

Half the profiles are keyed to (source, event), half to category profiles of their own
category; the same alerts (half matching by event, half falling through to a category, a
few matching nothing) are matched against both sets, best of several rounds. The index
should make the 10,000-profile cost close to the 10-profile cost.
Prints {"bench": "match", "us_per_alert_10": ..., "us_per_alert_10000": ..., "ratio": ...}.
`--quick` matches fewer alerts.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime
from typing import Any

from response.matcher import ProfileIndex
from response.profiles import CategoryProfileSpec, ResponseProfileSpec

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def profile_set(n: int) -> ProfileIndex:
    profiles: list[ResponseProfileSpec] = []
    categories: list[CategoryProfileSpec] = []
    for i in range(n):
        match: dict[str, Any] = {"severity": 4, "description_regex": "(?i)scan|probe"}
        if i % 2 == 0:
            match |= {"source": "Suricata", "event": str(i)}
        else:
            categories.append(
                CategoryProfileSpec(name=f"cats{i}", source_type="Suricata", categories=[f"cat{i}"])
            )
            match["category_profile"] = f"cats{i}"
        profiles.append(
            ResponseProfileSpec.model_validate(
                {"name": f"p{i}", "match": match, "actions": [{"kind": "playbook", "deployment": "f/d"}]}
            )
        )
    return ProfileIndex(profiles, categories)


def alerts(count: int) -> list[dict[str, Any]]:
    """Alerts that hit profiles 0..9 (present in both sets), by event or by category."""
    rng = random.Random(6)
    out = []
    for i in range(count):
        k = rng.randrange(10)
        alert = {
            "alert_uuid": f"u{i}",
            "node_id": "node1",
            "source": "Suricata",
            "event": str(k) if k % 2 == 0 else f"x{k}",
            "severity": 2,
            "category": f"misc, cat{k}" if k % 2 else "misc",
            "description": "ET SCAN Nmap probe",
            "action": "indef",
            "srcip": "10.0.0.1",
            "dstip": "10.0.0.2",
        }
        if i % 50 == 0:
            alert["event"], alert["category"] = "none", "none"
        out.append(alert)
    return out


def one_round(index: ProfileIndex, batch: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    matched = sum(len(index.match(a, NOW)) for a in batch)
    elapsed = time.perf_counter() - started
    assert matched >= len(batch) * 0.9, "the alerts should nearly all match one profile"
    return elapsed / len(batch) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer alerts and rounds (< 1 minute)")
    args = parser.parse_args()
    batch = alerts(20_000 if args.quick else 100_000)
    rounds = 3 if args.quick else 7
    small, large = profile_set(10), profile_set(10_000)
    one_round(small, batch[:2000])  # warm up
    one_round(large, batch[:2000])
    us_10 = us_10000 = float("inf")
    for _ in range(rounds):  # interleaved, best of each, so machine noise hits both alike
        us_10 = min(us_10, one_round(small, batch))
        us_10000 = min(us_10000, one_round(large, batch))
    print(
        json.dumps(
            {
                "bench": "match",
                "us_per_alert_10": round(us_10, 3),
                "us_per_alert_10000": round(us_10000, 3),
                "ratio": round(us_10000 / us_10, 3),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
