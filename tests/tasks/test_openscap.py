"""OVAL results → posture findings: which results are failures, where severity comes from."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from defusedxml import EntitiesForbidden

from alertmodel.posture import CheckResult
from tasks.openscap import (
    STANDARD_PROFILE,
    oval_findings,
    oval_subset,
    profile_definitions,
    rule_checks,
    scan_with_openscap,
    xccdf_checks,
)

RESULTS = b"""<?xml version="1.0"?>
<oval_results xmlns="http://oval.mitre.org/XMLSchema/oval-results-5"
    xmlns:oval="http://oval.mitre.org/XMLSchema/oval-common-5"
    xmlns:d="http://oval.mitre.org/XMLSchema/oval-definitions-5">
  <generator><oval:timestamp>2026-11-30T20:40:36</oval:timestamp></generator>
  <d:oval_definitions><d:definitions>
    <d:definition id="oval:x:def:1" class="compliance"><d:metadata><d:title>Install AIDE</d:title></d:metadata></d:definition>
    <d:definition id="oval:x:def:2" class="compliance"><d:metadata><d:title>Passes</d:title></d:metadata></d:definition>
    <d:definition id="oval:x:def:3" class="vulnerability"><d:metadata><d:title>CVE-2026-0001</d:title></d:metadata></d:definition>
    <d:definition id="oval:x:def:4" class="inventory"><d:metadata><d:title>Debian 12</d:title></d:metadata></d:definition>
    <d:definition id="oval:x:def:5" class="compliance"><d:metadata><d:title>Broke</d:title></d:metadata></d:definition>
    <d:definition id="oval:x:def:6" class="patch"><d:metadata><d:title>Patched</d:title></d:metadata></d:definition>
  </d:definitions></d:oval_definitions>
  <results><system><definitions>
    <definition definition_id="oval:x:def:1" result="false"/>
    <definition definition_id="oval:x:def:2" result="true"/>
    <definition definition_id="oval:x:def:3" result="true"/>
    <definition definition_id="oval:x:def:4" result="false"/>
    <definition definition_id="oval:x:def:5" result="error"/>
    <definition definition_id="oval:x:def:6" result="false"/>
  </definitions></system></results>
</oval_results>
"""
BENCHMARK = b"""<?xml version="1.0"?>
<Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2" id="b">
  <Rule id="xccdf_rule_aide" severity="medium">
    <check system="oval"><check-content-ref href="o.xml" name="oval:x:def:1"/></check>
  </Rule>
  <Group id="g"><Rule id="xccdf_rule_cve" severity="high">
    <check system="oval"><check-content-ref href="o.xml" name="oval:x:def:3"/></check>
  </Rule></Group>
</Benchmark>
"""


def test_failed_compliance_and_true_vulnerability_definitions_are_findings() -> None:
    findings = oval_findings(RESULTS, "web1", rule_checks(BENCHMARK))
    assert [(f.definition_id, f.title, f.rule_id, f.severity) for f in findings] == [
        ("oval:x:def:1", "Install AIDE", "xccdf_rule_aide", 2),
        ("oval:x:def:3", "CVE-2026-0001", "xccdf_rule_cve", 3),
    ]
    assert findings[0].alert_record() == {
        "source": "OpenSCAP",
        "type": "HOST",
        "event": "oval:x:def:1",
        "severity": 2,
        "category": "posture",
        "description": "Install AIDE",
        "agent": "web1",
        "info": "compliance check false; rule xccdf_rule_aide",
        "time_event": "2026-11-30T20:40:36",
    }


def test_a_definition_without_an_xccdf_rule_has_severity_zero_and_only_limits_the_findings() -> None:
    [finding] = oval_findings(RESULTS, "web1", {}, only={"oval:x:def:3"})
    assert (finding.definition_id, finding.severity, finding.rule_id) == ("oval:x:def:3", 0, "")
    assert "rule" not in finding.alert_record()["info"]


def test_other_documents_and_entities_are_refused() -> None:
    with pytest.raises(ValueError, match="not an OVAL results document"):
        oval_findings(BENCHMARK, "web1", {})
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>'
    with pytest.raises(EntitiesForbidden):
        oval_findings(bomb, "web1", {})


CONTENT = "/usr/share/xml/scap/ssg/content"


def test_the_standard_profile_evaluates_the_oval_definitions_of_its_44_rules() -> None:
    benchmark = Path(f"{CONTENT}/ssg-debian11-xccdf.xml").read_bytes()
    definitions = profile_definitions(benchmark, STANDARD_PROFILE)
    assert len(definitions) == len(set(definitions)) == 44
    assert "oval:ssg-file_permissions_etc_passwd:def:1" in definitions
    # a rule the profile does not select, although its definition is in the content
    assert "oval:ssg-package_openssh-server_removed:def:1" not in definitions
    with pytest.raises(ValueError, match="profile 'nope' is not in the benchmark"):
        profile_definitions(benchmark, "nope")


def test_a_derived_content_file_keeps_the_definitions_and_everything_they_use() -> None:
    content = Path(f"{CONTENT}/ssg-debian11-oval.xml").read_bytes()
    subset = oval_subset(content, ["oval:ssg-sshd_disable_root_login:def:1"]).decode()
    # what the definition extends, its tests, objects, states and variables come along
    for needed in (
        'id="oval:ssg-sshd_disable_root_login:def:1"',
        'id="oval:ssg-package_openssh-server_installed:def:1"',
        'id="oval:ssg-test_sshd_disable_root_login:tst:1"',
    ):
        assert needed in subset
    assert 'id="oval:ssg-package_aide_installed:def:1"' not in subset
    assert len(subset) < len(content) / 20
    with pytest.raises(ValueError, match="definitions not in the OVAL content: oval:x:def:9"):
        oval_subset(content, ["oval:x:def:9"])


def test_an_oval_document_with_an_entity_is_refused() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'
    with pytest.raises(EntitiesForbidden):
        oval_subset(evil, [])
    with pytest.raises(EntitiesForbidden):
        xccdf_checks(evil)


def test_xccdf_fails_in_a_real_arf_report_become_checks_with_rule_title_and_severity(tmp_path: Path) -> None:
    oscap = shutil.which("oscap")
    assert oscap, "oscap is not installed; run `bash scripts/services.sh up`"
    arf = tmp_path / "arf.xml"
    run = subprocess.run(
        [
            oscap,
            "xccdf",
            "eval",
            "--profile",
            STANDARD_PROFILE,
            "--results-arf",
            str(arf),
            f"{CONTENT}/ssg-debian11-ds.xml",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode in (0, 2), run.stderr
    report = arf.read_text()
    # On Debian 12 the Debian 11 content applies to nothing: no failures
    assert report.count("<result>notapplicable</result>") == 44
    assert xccdf_checks(arf.read_bytes()) == []
    rule = "xccdf_org.ssgproject.content_rule_package_telnetd_removed"
    start = report.index(f'<rule-result idref="{rule}"')
    end = report.index("</rule-result>", start)
    failed = report[:start] + report[start:end].replace(">notapplicable<", ">fail<") + report[end:]
    assert xccdf_checks(failed.encode()) == [
        CheckResult(check_id=rule, title="Uninstall the telnet server", severity=3, detail="xccdf rule fail")
    ]


@pytest.mark.integration
async def test_the_default_scan_over_ssh_evaluates_the_standard_profiles_definitions(ssh_hosts: Any) -> None:
    from tests.integration.sensors.test_openscap_live import _expected_failures

    report = await scan_with_openscap.fn(ssh_hosts.profile(2))
    benchmark = Path(f"{CONTENT}/ssg-debian11-xccdf.xml").read_bytes()
    assert (report.report_type, report.host) == ("openscap", ssh_hosts.hosts[2]["name"])
    found = {c.check_id for c in report.checks}
    selected = set(profile_definitions(benchmark, STANDARD_PROFILE))
    assert found <= selected
    known = {d: failed for d, failed in _expected_failures().items() if d in selected}
    assert len(known) >= 2, "the standard profile no longer checks the file modes this test knows"
    for definition, failed in known.items():
        assert (definition in found) == failed, definition
    assert any(c.severity >= 2 for c in report.checks)  # from the XCCDF rules; some are "unknown" (0)


@pytest.mark.integration
async def test_an_xccdf_scan_over_ssh_reads_the_arf_report(ssh_hosts: Any) -> None:
    report = await scan_with_openscap.fn(
        ssh_hosts.profile(2), kind="xccdf", content=f"{CONTENT}/ssg-debian11-ds.xml"
    )
    assert report.checks == []  # Debian 11 rules do not apply to Debian 12


async def test_a_relative_content_path_is_refused_before_connecting(ssh_hosts: Any) -> None:
    with pytest.raises(ValueError, match="absolute paths on the host"):
        await scan_with_openscap.fn(ssh_hosts.profile(2), content="ssg.xml")
