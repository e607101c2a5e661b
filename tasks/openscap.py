"""OpenSCAP on a host over SSH, and its results → posture findings, one per failed check.

`scan_with_openscap` runs `oscap` on the host (arguments quoted), fetches the results file
with SFTP and parses it here: OVAL results (`oscap oval eval`) or XCCDF / ARF results
(`oscap xccdf eval`, a rule fails when its rule-result is `fail`).

A compliance definition fails when its result is `false`; a vulnerability or patch definition
when it is `true`; inventory definitions describe the host and never make a finding, and
`error` / `unknown` / `not applicable` results are not failures. OVAL carries no severity: it
comes from the XCCDF benchmark rule whose check names the definition (SCAP Security Guide
severities low / medium / high → 1 / 2 / 3, anything else 0).

Reports come from scanned hosts, so they are parsed with defusedxml (no entities, no DTDs)
and every text is cut to its alert field width by the generic normalizer on import.
"""

from __future__ import annotations

import posixpath
import shlex
import time
from collections.abc import Collection, Sequence
from typing import Any, Literal
from xml.etree.ElementTree import Element, register_namespace, tostring

import asyncssh
from defusedxml import ElementTree
from prefect import task
from pydantic import BaseModel

from alertmodel.errors import IntegrationError
from alertmodel.posture import CheckResult, HostReport
from blocks.host import HostProfile
from blocks.run_context import run_logger
from tasks.ssh import run_command

OVAL_RESULTS = "{http://oval.mitre.org/XMLSchema/oval-results-5}"
OVAL_DEFINITIONS = "{http://oval.mitre.org/XMLSchema/oval-definitions-5}"
OVAL_COMMON = "{http://oval.mitre.org/XMLSchema/oval-common-5}"
XCCDF = "{http://checklists.nist.gov/xccdf/1.2}"
SSG_CONTENT = "/usr/share/xml/scap/ssg/content"
DEBIAN_OVAL = f"{SSG_CONTENT}/ssg-debian11-oval.xml"
DEBIAN_BENCHMARK = f"{SSG_CONTENT}/ssg-debian11-xccdf.xml"
STANDARD_PROFILE = "xccdf_org.ssgproject.content_profile_standard"
MAX_RESULTS_BYTES = 512 * 1024 * 1024
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


def profile_definitions(benchmark_xml: bytes, profile_id: str) -> list[str]:
    """The OVAL definitions checking the rules an XCCDF 1.2 profile selects, in benchmark order."""
    root = ElementTree.fromstring(benchmark_xml)
    profile = next((p for p in root.iter(f"{XCCDF}Profile") if p.get("id") == profile_id), None)
    if profile is None:
        known = ", ".join(p.get("id", "") for p in root.iter(f"{XCCDF}Profile"))
        raise ValueError(f"profile {profile_id!r} is not in the benchmark; it has: {known[:500]}")
    chosen = {s.get("idref", ""): s.get("selected") == "true" for s in profile.iter(f"{XCCDF}select")}
    definitions: list[str] = []
    for rule in root.iter(f"{XCCDF}Rule"):
        if not chosen.get(rule.get("id", ""), rule.get("selected", "true") == "true"):
            continue
        for ref in rule.iter(f"{XCCDF}check-content-ref"):
            name = ref.get("name", "")
            if name.startswith("oval:") and name not in definitions:
                definitions.append(name)
    return definitions


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


def xccdf_checks(results_xml: bytes) -> list[CheckResult]:
    """The failed rules of XCCDF 1.2 results or an ARF report (`oscap xccdf eval --results[-arf]`).

    Titles come from the benchmark rules in the same document; a rule evaluated by several
    TestResults counts once.
    """
    root = ElementTree.fromstring(results_xml)
    titles = {
        rule.get("id", ""): (rule.findtext(f"{XCCDF}title") or "").strip()
        for rule in root.iter(f"{XCCDF}Rule")
    }
    checks: dict[str, CheckResult] = {}
    for result in root.iter(f"{XCCDF}rule-result"):
        rule_id = result.get("idref", "")
        if result.findtext(f"{XCCDF}result") != "fail" or not rule_id or rule_id in checks:
            continue
        checks[rule_id] = CheckResult(
            check_id=rule_id,
            title=titles.get(rule_id) or rule_id,
            severity=SEVERITY.get(result.get("severity", ""), 0),
            detail="xccdf rule fail",
        )
    return list(checks.values())


def oval_checks(findings: Sequence[PostureFinding]) -> list[CheckResult]:
    """OVAL findings as report checks: the definition id is the check."""
    return [
        CheckResult(
            check_id=f.definition_id,
            title=f.title or f.definition_id,
            severity=f.severity,
            detail=f"{f.definition_class} check {f.result}" + (f"; rule {f.rule_id}" if f.rule_id else ""),
        )
        for f in findings
    ]


_REF_ATTRIBUTES = ("definition_ref", "test_ref", "object_ref", "state_ref", "var_ref")
_REF_ELEMENTS = ("filter", "object_reference", "var_ref")
_SECTIONS = ("definitions", "tests", "objects", "states", "variables")


def _namespaces(xml: bytes) -> list[tuple[str, str]]:
    import io

    from defusedxml.ElementTree import iterparse

    return [ns for _, ns in iterparse(io.BytesIO(xml), events=("start-ns",))]


def oval_subset(content_xml: bytes, definition_ids: Collection[str]) -> bytes:
    """An OVAL definitions document with only these definitions and what they use, transitively.

    oscap evaluates such a file in seconds where the whole SSG content takes minutes. An id
    that is not in the content is an error.
    """
    root = ElementTree.fromstring(content_xml)
    by_id: dict[str, Element] = {}
    for section in _SECTIONS:
        holder = root.find(f"{OVAL_DEFINITIONS}{section}")
        if holder is not None:
            for element in holder:
                by_id[element.get("id", "")] = element
    missing = [d for d in definition_ids if d not in by_id]
    if missing:
        raise ValueError(f"definitions not in the OVAL content: {', '.join(sorted(missing))[:500]}")
    keep: set[str] = set()
    todo = list(definition_ids)
    while todo:
        current = todo.pop()
        if current in keep:
            continue
        keep.add(current)
        for element in by_id[current].iter():
            for attribute in _REF_ATTRIBUTES:
                ref = element.get(attribute)
                if ref and ref in by_id:
                    todo.append(ref)
            if (
                element.tag.rpartition("}")[2] in _REF_ELEMENTS
                and element.text
                and element.text.strip() in by_id
            ):
                todo.append(element.text.strip())
    for section in _SECTIONS:
        holder = root.find(f"{OVAL_DEFINITIONS}{section}")
        if holder is None:
            continue
        for element in list(holder):
            if element.get("id", "") not in keep:
                holder.remove(element)
        if len(holder) == 0:
            root.remove(holder)
    for prefix, uri in _namespaces(content_xml):
        register_namespace(prefix, uri)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode").encode()


async def _read_remote(sftp: asyncssh.SFTPClient, path: str, host: str) -> bytes:
    size = (await sftp.stat(path)).size or 0
    if size > MAX_RESULTS_BYTES:
        raise IntegrationError(f"{path} on {host} is {size} bytes, over the {MAX_RESULTS_BYTES} byte limit")
    async with sftp.open(path, "rb") as f:
        return await f.read()


@task(name="scan_with_openscap")
async def scan_with_openscap(
    host: HostProfile,
    *,
    kind: Literal["oval", "xccdf"] = "oval",
    content: str = DEBIAN_OVAL,
    benchmark: str | None = DEBIAN_BENCHMARK,
    definitions: Sequence[str] | None = None,
    profile: str | None = STANDARD_PROFILE,
    timeout_s: float = 1800,
) -> HostReport:
    """Run `oscap` on `host`, fetch its results with SFTP and return the failed checks.

    `kind="oval"` evaluates OVAL `content` (what works on Debian 12 with the Debian 11 SSG
    content): the definitions checking the rules `profile` selects in the XCCDF `benchmark`,
    or exactly `definitions`, or (both None) the whole file. A subset is a content file derived
    here and uploaded to a temp directory on the host. Severities come from the benchmark
    (None: all 0). `kind="xccdf"` evaluates `profile` of the data stream `content` (ARF report).
    """
    if kind not in ("oval", "xccdf"):
        raise ValueError(f"kind must be 'oval' or 'xccdf', not {kind!r}")
    for path in (content, benchmark or "/"):
        if not posixpath.isabs(path):
            raise ValueError(f"content and benchmark must be absolute paths on the host, not {path!r}")
    logger = run_logger()
    started = time.monotonic()
    async with await host.connect() as conn:
        made = await run_command(conn, ["mktemp", "-d", "-t", "alertflow-oscap.XXXXXXXX"], timeout_s=30)
        workdir = made.stdout.strip()
        if made.exit_status != 0 or not workdir.startswith("/"):
            raise IntegrationError(f"could not make a temp directory on {host.name}: {made.stderr[:300]}")
        try:
            async with conn.start_sftp_client() as sftp:
                bench = (
                    await _read_remote(sftp, benchmark, host.name) if kind == "oval" and benchmark else None
                )
                if kind == "oval" and not definitions and profile and bench:
                    definitions = profile_definitions(bench, profile)
                source = content
                if kind == "oval" and definitions:
                    subset = oval_subset(await _read_remote(sftp, content, host.name), definitions)
                    source = posixpath.join(workdir, "content.xml")
                    async with sftp.open(source, "wb") as f:
                        await f.write(subset)
                results = posixpath.join(workdir, "results.xml")
                if kind == "oval":
                    argv = ["oscap", "oval", "eval", "--results", results, source]
                else:
                    argv = ["oscap", "xccdf", "eval", "--results-arf", results, source]
                    argv[3:3] = ["--profile", profile] if profile else []
                run = await run_command(conn, argv, timeout_s=timeout_s)
                # xccdf eval exits 2 when a rule failed: that is a result, not an error
                if run.timed_out or run.exit_status not in ((0,) if kind == "oval" else (0, 2)):
                    raise IntegrationError(
                        f"oscap on {host.name} exited {run.exit_status}"
                        f"{' (timed out)' if run.timed_out else ''}: {run.stderr.strip()[-500:]}"
                    )
                data = await _read_remote(sftp, results, host.name)
                bench = (
                    await _read_remote(sftp, benchmark, host.name) if kind == "oval" and benchmark else None
                )
        finally:
            await run_command(conn, ["rm", "-rf", "--", workdir], timeout_s=60)
    if kind == "oval":
        checks = rule_checks(bench) if bench else {}
        found = oval_checks(
            oval_findings(data, host.name, checks, only=set(definitions) if definitions else None)
        )
    else:
        found = xccdf_checks(data)
    logger.info(
        "oscap %s on %s: %d failed checks in %.1fs (%s)",
        kind,
        host.name,
        len(found),
        time.monotonic() - started,
        shlex.quote(content),
    )
    return HostReport(report_type="openscap", host=host.name, checks=found)
