"""`alertflow replay`: alerts as JSON lines on stdout, a summary on stderr, bad lines to a dead-letter file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from alertmodel import ALERT_COLUMNS
from ingest.policy import DEFAULT_POLICY_PATH
from tests.ingest.conftest import SAMPLES

runner = CliRunner()


def _replay(*args: str):
    from alertflow.cli import app

    return runner.invoke(app, ["replay", *args])


def test_replay_prints_one_json_alert_per_line_with_every_record_field(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    result = _replay(str(SAMPLES / "wazuh" / "wazuh-integratord-test-alert-5712.json"), "--out", str(out))
    assert result.exit_code == 0, result.output
    (alert,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert set(alert) == set(ALERT_COLUMNS)
    assert (alert["source"], alert["event"], alert["severity"]) == ("Wazuh", "5712", 3)
    assert alert["category"].startswith("syslog, sshd, ")
    assert datetime.fromisoformat(alert["time_collr"]).utcoffset().total_seconds() == 0


def test_replay_summary_counts_what_the_policy_did_and_dead_letters_bad_lines(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    out = tmp_path / "alerts.jsonl"
    files = [str(p) for p in sorted((SAMPLES / "wazuh").iterdir())] + [
        str(SAMPLES / "malformed" / "bad-lines.jsonl")
    ]
    result = _replay(
        *files,
        "--policy",
        str(DEFAULT_POLICY_PATH),
        "--node",
        "n9",
        "--out",
        str(out),
        "--dead-letter",
        str(dead),
    )
    assert result.exit_code == 0, result.output
    summary = dict(line.rsplit(None, 1) for line in result.stderr.splitlines())
    assert summary["read"] == "52"
    assert summary["dead-lettered"] == "3"
    emitted = int(summary["emitted"])
    assert emitted == len(out.read_text().splitlines()) > 0
    assert (
        int(summary["dropped by threshold"]) > 0
    )  # ciscat levels 1-3 fall under the default ladder's threshold
    assert {json.loads(line)["node_id"] for line in out.read_text().splitlines()} == {"n9"}
    reasons = [json.loads(line)["reason"] for line in dead.read_text().splitlines()]
    assert reasons[0] == "line 1: invalid JSON at byte 104: unexpected end of data"
    assert reasons[1].startswith("line 2: wazuh: rule.id must be a non-empty string")
    assert reasons[2] == "line 4: invalid UTF-8 at byte 34: invalid start byte"


def test_replay_refuses_an_invalid_policy_naming_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text('{"sources": {"hids": {"severity": {"threshold": "x"}}}}')
    result = _replay(str(SAMPLES / "wazuh" / "wazuh-integratord-test-alert-5712.json"), "--policy", str(bad))
    assert result.exit_code == 2
    assert f"{bad}: sources.hids.severity.threshold" in result.stderr


def test_replay_with_an_explicit_source_dead_letters_other_shapes(tmp_path: Path) -> None:
    dead = tmp_path / "dead.jsonl"
    result = _replay(
        str(SAMPLES / "falco" / "elastic-falco-alerts-test-nopreserve.log"),
        "--source",
        "wazuh",
        "--out",
        str(tmp_path / "o"),
        "--dead-letter",
        str(dead),
    )
    assert result.exit_code == 0
    reasons = [json.loads(x)["reason"] for x in dead.read_text().splitlines()]
    assert reasons == [f"line {n}: wazuh: missing rule object" for n in (1, 2, 3)]


def test_replay_shows_a_progress_bar_only_on_a_terminal(tmp_path: Path, monkeypatch) -> None:
    from alertflow.cli import replay as replay_module

    shown = []
    monkeypatch.setattr(replay_module, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(
        replay_module, "_stderr_console", lambda: shown.append(1) or __import__("rich").get_console()
    )
    sample = str(SAMPLES / "falco" / "elastic-falco-alerts-test-nopreserve.log")
    assert _replay(sample, "--out", str(tmp_path / "a")).exit_code == 0
    assert shown == []  # CliRunner's stderr is not a terminal
    monkeypatch.setattr(replay_module, "_stderr_is_terminal", lambda: True)
    result = _replay(sample, "--out", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    assert shown == [1]
    assert len((tmp_path / "b").read_text().splitlines()) == 3
