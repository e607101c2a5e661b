"""A full ssg-debian OVAL result file parsed and diffed against the host's previous report.

The result file is `oscap oval eval --results` of the whole ssg-debian11 OVAL content on this
machine (made once, ~5 min on 2 cores, kept in --cache; or pass --results). Timed, best of
--rounds: parse the results and the XCCDF benchmark (severities) with defusedxml, turn the
failed definitions into checks, and record them as a new report of a host whose previous
report (stored before timing) had one finding fewer and one more, in a migrated SQLite store.
Baseline, same run: a plain `xml.etree.ElementTree` parse of the same two files.
Prints {"bench": "posture", "parse_diff_s": ..., "baseline_s": ..., "ratio": ...}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as PlainElementTree
from pathlib import Path

from sqlmodel import Session

from alertmodel import migrate
from alertmodel.engine import make_engine
from alertmodel.posture import record_report
from tasks.openscap import DEBIAN_BENCHMARK, DEBIAN_OVAL, oval_checks, oval_findings, rule_checks

HOST = "bench-host"


def results_file(cache: Path) -> Path:
    """The full OVAL results of this machine, made with oscap once."""
    path = cache / "ssg-debian11-oval-results.xml"
    if path.exists():
        return path
    oscap = shutil.which("oscap")
    if oscap is None or not Path(DEBIAN_OVAL).exists():
        sys.exit("oscap and the ssg-debian content are needed: run `bash scripts/services.sh up`")
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / ".results.xml.tmp"
    print(f"evaluating {DEBIAN_OVAL} with oscap once (about 5 minutes) ...", file=sys.stderr)
    subprocess.run(
        [oscap, "oval", "eval", "--results", str(partial), DEBIAN_OVAL], check=True, capture_output=True
    )
    partial.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--results", type=Path, help="an `oscap oval eval --results` file of the full content"
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "alertflow-bench-posture")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = (args.results or results_file(args.cache)).read_bytes()
    benchmark = Path(DEBIAN_BENCHMARK).read_bytes()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'alerts.db'}"
        migrate.upgrade(url)
        engine = make_engine(url)
        checks = oval_checks(oval_findings(results, HOST, rule_checks(benchmark)))
        if len(checks) < 2:
            sys.exit(f"the result file has {len(checks)} failed checks; a full evaluation has hundreds")
        best = baseline = float("inf")
        raised = 0
        for round_ in range(args.rounds):
            host = f"{HOST}-{round_}"
            previous = [*checks[1:], checks[0].model_copy(update={"check_id": "oval:bench:def:gone"})]
            with Session(engine) as session:
                record_report(session, "openscap", host, previous)
                session.commit()

            started = time.perf_counter()
            found = oval_checks(oval_findings(results, host, rule_checks(benchmark)))
            with Session(engine) as session:
                outcome = record_report(session, "openscap", host, found, mode="new")
                session.commit()
            best = min(best, time.perf_counter() - started)
            raised = len(outcome.raised)
            assert [c.check_id for c in outcome.raised] == [checks[0].check_id], outcome.raised[:3]
            assert outcome.resolved == ["oval:bench:def:gone"]

            started = time.perf_counter()
            PlainElementTree.fromstring(results)  # noqa: S314 (the baseline: a plain parse, on purpose)
            PlainElementTree.fromstring(benchmark)  # noqa: S314
            baseline = min(baseline, time.perf_counter() - started)
        engine.dispose()
    print(
        f"{len(results)} byte result file, {len(checks)} failed checks, {raised} raised after the diff",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "bench": "posture",
                "parse_diff_s": round(best, 4),
                "baseline_s": round(baseline, 4),
                "ratio": round(best / baseline, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
