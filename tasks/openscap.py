"""OpenSCAP OVAL results → posture findings, one per failed check, as generic alert records.

A compliance definition fails when its result is `false`; a vulnerability or patch definition
when it is `true`; inventory definitions describe the host and never make a finding, and
`error` / `unknown` / `not applicable` results are not failures. OVAL carries no severity: it
comes from the XCCDF benchmark rule whose check names the definition (SCAP Security Guide
severities low / medium / high → 1 / 2 / 3, anything else 0).

Reports come from scanned hosts, so they are parsed with defusedxml (no entities, no DTDs)
and every text is cut to its alert field width by the generic normalizer on import.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from defusedxml import ElementTree
from pydantic import BaseModel

OVAL_RESULTS = "{http://oval.mitre.org/XMLSchema/oval-results-5}"
OVAL_DEFINITIONS = "{http://oval.mitre.org/XMLSchema/oval-definitions-5}"
OVAL_COMMON = "{http://oval.mitre.org/XMLSchema/oval-common-5}"
XCCDF = "{http://checklists.nist.gov/xccdf/1.2}"
SEVERITY = {"low": 1, "medium": 2, "high": 3}
FAILED_WHEN = {"compliance": "false", "vulnerability": "true", "patch": "true"}
SOURCE = "OpenSCAP"


class RuleCheck(BaseModel):
    """The XCCDF rule that uses an OVAL definition as its check."""

    rule_id: str
    severity: str


class PostureFinding(BaseModel):
    """One failed check on one host."""

    host: str
    definition_id: str
    definition_class: str
    result: str
    title: str
    rule_id: str = ""
    severity: int = 0
    time: str = ""

    def alert_record(self) -> dict[str, Any]:
        """The finding as a generic alert record (`alertflow ingest-file --source generic`)."""
        return {
            "source": SOURCE,
            "type": "HOST",
            "event": self.definition_id,
            "severity": self.severity,
            "category": "posture",
            "description": self.title,
            "agent": self.host,
            "info": f"{self.definition_class} check {self.result}"
            + (f"; rule {self.rule_id}" if self.rule_id else ""),
            "time_event": self.time,
        }


def rule_checks(benchmark_xml: bytes) -> dict[str, RuleCheck]:
    """OVAL definition id → the XCCDF 1.2 rule checking it (from a benchmark or a datastream)."""
    root = ElementTree.fromstring(benchmark_xml)
    checks: dict[str, RuleCheck] = {}
    for rule in root.iter(f"{XCCDF}Rule"):
        for ref in rule.iter(f"{XCCDF}check-content-ref"):
            name = ref.get("name", "")
            if name.startswith("oval:"):
                checks[name] = RuleCheck(rule_id=rule.get("id", ""), severity=rule.get("severity", "unknown"))
    return checks


def oval_findings(
    results_xml: bytes,
    host: str,
    checks: dict[str, RuleCheck],
    only: Collection[str] | None = None,
) -> list[PostureFinding]:
    """The failed checks of an `oscap oval eval --results` file, in document order.

    `only` limits them to the definitions asked for: oscap also reports the definitions an
    evaluated one extends, and those are not findings of their own.
    """
    root = ElementTree.fromstring(results_xml)
    if root.tag != f"{OVAL_RESULTS}oval_results":
        raise ValueError(f"not an OVAL results document (root element {root.tag})")
    meta: dict[str, tuple[str, str]] = {}
    for definition in root.iter(f"{OVAL_DEFINITIONS}definition"):
        title = definition.findtext(f"{OVAL_DEFINITIONS}metadata/{OVAL_DEFINITIONS}title") or ""
        meta[definition.get("id", "")] = (definition.get("class", ""), title.strip())
    time = root.findtext(f"{OVAL_RESULTS}generator/{OVAL_COMMON}timestamp") or ""
    findings = []
    for result in root.iter(f"{OVAL_RESULTS}definition"):
        definition_id, outcome = result.get("definition_id", ""), result.get("result", "")
        if only is not None and definition_id not in only:
            continue
        definition_class, title = meta.get(definition_id, ("", ""))
        if FAILED_WHEN.get(definition_class) != outcome:
            continue
        check = checks.get(definition_id)
        findings.append(
            PostureFinding(
                host=host,
                definition_id=definition_id,
                definition_class=definition_class,
                result=outcome,
                title=title,
                rule_id=check.rule_id if check else "",
                severity=SEVERITY.get(check.severity, 0) if check else 0,
                time=time,
            )
        )
    return findings
