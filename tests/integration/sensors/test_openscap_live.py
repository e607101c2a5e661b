"""OpenSCAP 1.3 evaluates five SCAP Security Guide OVAL checks on this machine (ssg-debian 11
content: on Debian 12 its XCCDF profiles mark every rule not applicable, while OVAL
definitions evaluate for real, about 1 s each). The failed checks become posture findings,
go through `alertflow ingest-file --source generic`, and the stored alerts are exactly the
failures this test works out on its own from dpkg, file modes and sshd_config.
"""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import orjson

from tasks.openscap import oval_findings, rule_checks
from tests.integration.sensors.kit import ingest_file, required_tool

CONTENT = Path("/usr/share/xml/scap/ssg/content")
OVAL = CONTENT / "ssg-debian11-oval.xml"
XCCDF = CONTENT / "ssg-debian11-xccdf.xml"
HOST = "posture-host.example"


def _installed(package: str) -> bool:
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    ).stdout
    return status.endswith("ok installed")


def _mode_beyond(path: str, allowed: int) -> bool:
    return stat.S_IMODE(Path(path).stat().st_mode) & ~allowed != 0


def _root_login_disabled() -> bool:
    text = Path("/etc/ssh/sshd_config").read_text()
    return re.search(r"^\s*PermitRootLogin\s+no\s*$", text, re.IGNORECASE | re.MULTILINE) is not None


def _expected_failures() -> dict[str, bool]:
    """Each evaluated definition → whether this machine fails it, decided without OpenSCAP."""
    return {
        "oval:ssg-package_aide_installed:def:1": not _installed("aide"),
        "oval:ssg-package_telnetd_removed:def:1": _installed("telnetd"),
        "oval:ssg-file_permissions_etc_passwd:def:1": _mode_beyond("/etc/passwd", 0o644),
        "oval:ssg-file_permissions_etc_shadow:def:1": _mode_beyond("/etc/shadow", 0o640),
        "oval:ssg-sshd_disable_root_login:def:1": _installed("openssh-server") and not _root_login_disabled(),
    }


SEVERITY = {  # the SSG rule severities (medium 2, high 3) of these checks
    "oval:ssg-package_aide_installed:def:1": 2,
    "oval:ssg-package_telnetd_removed:def:1": 3,
    "oval:ssg-file_permissions_etc_passwd:def:1": 2,
    "oval:ssg-file_permissions_etc_shadow:def:1": 2,
    "oval:ssg-sshd_disable_root_login:def:1": 2,
}
TITLES = {
    "oval:ssg-package_aide_installed:def:1": "Install AIDE",
    "oval:ssg-sshd_disable_root_login:def:1": "Disable SSH Root Login",
}


def test_failed_openscap_checks_on_this_machine_are_stored_as_posture_findings(tmp_path: Path) -> None:
    oscap = required_tool("oscap")
    assert OVAL.exists() and XCCDF.exists(), f"{CONTENT} lacks the Debian 11 content: install ssg-debian"
    checks = rule_checks(XCCDF.read_bytes())
    expected = _expected_failures()
    findings = []
    for i, definition in enumerate(expected):
        results = tmp_path / f"results-{i}.xml"
        run = subprocess.run(
            [oscap, "oval", "eval", "--id", definition, "--results", str(results), str(OVAL)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        verdict = "false" if expected[definition] else "true"
        assert f"Definition {definition}: {verdict}" in run.stdout, run.stdout
        findings += oval_findings(results.read_bytes(), HOST, checks, only={definition})
    assert {f.definition_id for f in findings} == {d for d, failed in expected.items() if failed}

    records = tmp_path / "findings.json"
    records.write_bytes(b"".join(orjson.dumps(f.alert_record()) + b"\n" for f in findings))
    alerts = ingest_file(records, "generic", tmp_path)

    assert sorted((a["event"], a["severity"]) for a in alerts) == sorted(
        (d, SEVERITY[d]) for d, failed in expected.items() if failed
    )
    for alert in alerts:
        assert (alert["source"], alert["category"], alert["agent"]) == ("OpenSCAP", "posture", HOST)
        assert alert["description"] == TITLES.get(alert["event"], alert["description"])
        assert alert["description"] != "indef"
