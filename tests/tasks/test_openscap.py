"""OVAL results → posture findings: which results are failures, where severity comes from."""

from __future__ import annotations

import pytest
from defusedxml import EntitiesForbidden

from tasks.openscap import oval_findings, rule_checks

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
