"""Which response profiles an alert fires: pure, indexed, Alertflex order.

An alert whose `action` names a profile goes to that profile; otherwise to the profiles
keyed to its source and event id; if none of those match, to the profiles of a category
profile holding one of its categories. Candidates come from dicts, so an alert's cost does
not grow with profiles that cannot match it. Then each candidate's criteria are checked
(node `*` or equal, severity 4 = any or equal, optional agent, container, ip, user, sensor,
file, process, description regex, hour window).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from response.profiles import SEVERITY_ANY, CategoryProfileSpec, HourWindow, ResponseProfileSpec

INDEF = "indef"

Check = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """A profile with its criteria turned into plain checks."""

    spec: ResponseProfileSpec
    checks: tuple[Check, ...]
    hours: HourWindow | None
    zone: ZoneInfo | None

    @property
    def name(self) -> str:
        return self.spec.name

    def accepts(self, alert: Mapping[str, Any], now: datetime) -> bool:
        if self.hours is not None and not self.hours.contains(now.astimezone(self.zone).hour):
            return False
        return all(check(alert) for check in self.checks)


def compile_profile(spec: ResponseProfileSpec) -> CompiledProfile:
    """Turn a profile's criteria into a tuple of checks (empty criteria add none)."""
    m = spec.match
    checks: list[Check] = []
    if m.node != "*":
        checks.append(_equals("node_id", m.node))
    if m.severity != SEVERITY_ANY:
        severity = m.severity
        checks.append(lambda a: a.get("severity") == severity)
    for field in ("agent", "container", "user", "sensor", "file", "process"):
        value = getattr(m, field)
        if value is not None:
            checks.append(_equals(field, value))
    if m.ip is not None:
        ip = m.ip
        checks.append(lambda a: a.get("srcip") == ip or a.get("dstip") == ip)
    if m.description_regex is not None:
        search = re.compile(m.description_regex).search
        checks.append(lambda a: search(str(a.get("description", ""))) is not None)
    zone = ZoneInfo(m.hours.timezone) if m.hours is not None else None
    return CompiledProfile(spec=spec, checks=tuple(checks), hours=m.hours, zone=zone)


def _equals(field: str, value: str) -> Check:
    return lambda a: a.get(field) == value


class ProfileIndex:
    """Enabled response profiles indexed by name, by (source, event) and by (source type, category)."""

    def __init__(
        self, profiles: Iterable[ResponseProfileSpec], category_profiles: Iterable[CategoryProfileSpec] = ()
    ) -> None:
        self.by_name: dict[str, CompiledProfile] = {}
        self.by_event: dict[tuple[str, str], list[CompiledProfile]] = {}
        self.by_category: dict[tuple[str, str], list[CompiledProfile]] = {}
        self.by_any_category: dict[str, list[CompiledProfile]] = {}
        categories = {c.name: c for c in category_profiles}
        for spec in profiles:
            if not spec.enabled:
                continue
            compiled = compile_profile(spec)
            self.by_name[spec.name] = compiled
            m = spec.match
            if m.source is not None and m.event is not None:
                self.by_event.setdefault((m.source.lower(), m.event), []).append(compiled)
            elif m.category_profile is not None:
                category_profile = categories.get(m.category_profile)
                if category_profile is None:  # refused at import; a stale row must not crash ingest
                    continue
                source_type = category_profile.source_type.lower()
                for name in category_profile.categories:
                    if name == "*":
                        self.by_any_category.setdefault(source_type, []).append(compiled)
                    else:
                        self.by_category.setdefault((source_type, name), []).append(compiled)

    def __len__(self) -> int:
        return len(self.by_name)

    def match(self, alert: Mapping[str, Any], now: datetime) -> list[CompiledProfile]:
        """The profiles `alert` fires, in a stable order, each once."""
        action = alert.get("action") or INDEF
        if action != INDEF:
            named = self.by_name.get(action)
            if named is not None and named.accepts(alert, now):
                return [named]
        source = str(alert.get("source", "")).lower()
        found = [
            p for p in self.by_event.get((source, str(alert.get("event", ""))), ()) if p.accepts(alert, now)
        ]
        if found:
            return found
        if not self.by_category and not self.by_any_category:
            return []
        seen: set[str] = set()
        result: list[CompiledProfile] = []
        candidates: list[CompiledProfile] = []
        for source_type in (source, "*"):
            candidates.extend(self.by_any_category.get(source_type, ()))
            for category in str(alert.get("category", "")).split(", "):
                candidates.extend(self.by_category.get((source_type, category), ()))
        for p in candidates:
            if p.name not in seen and p.accepts(alert, now):
                seen.add(p.name)
                result.append(p)
        return result
