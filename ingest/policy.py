"""The filter policy: Alertflex `filters.json`, validated at the edge with pydantic.

Keys and meaning follow DESIGN.md "Filter policy". Our extensions: optional `white_list[]`
and `black_list[]` per source section (selector keys only; `event: "indef"` means any event).
Older Alertflex console exports also carry `filter_desc` and `alias`; they are accepted and
kept. `agents`, `hosts`, `name_space`, `alias` and `log` are carried unchanged; the core does
not act on them. The decision engine that applies a policy is `ingest.filtering`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Self

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from alertmodel.alert import INDEF
from alertmodel.errors import ConfigurationError, describe_validation_error

SECTIONS = ("hids", "nids", "waf", "crs")
DEFAULT_POLICY_PATH = Path(__file__).parent / "policies" / "default.json"
"""The policy alertflow ships: Alertflex ladders, threshold 1, one aggregating gray entry (sshd brute force)."""
HOST_KEYS = {"hids": "agent", "nids": "host", "waf": "host", "crs": "container"}
"""Which selector key names the host in each section (Alertflex's console writes these)."""


_EVENT_ID_DOC = "An event id; Alertflex files write it as text or as a number (taken as its text)."
EventId = Annotated[
    str,
    WithJsonSchema(
        {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}], "description": _EVENT_ID_DOC}
    ),
]
NewEventId = Annotated[
    str, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}], "description": _EVENT_ID_DOC})
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Severity(_Model):
    """Native level → severity ladder, and the threshold an alert without a gray-list match must reach."""

    threshold: int = Field(0, ge=0, le=3)
    level0: int
    level1: int
    level2: int


class Aggregate(_Model):
    """Emit one `aggregated` alert when `reproduced` matches fall within `in_period` seconds (0 = off)."""

    reproduced: int = Field(0, ge=0)
    in_period: int = Field(0, ge=0)


class Response(_Model):
    """Overrides for a gray-listed alert; "indef" (or new_severity 0) leaves a field as it is."""

    profile: str = INDEF
    new_type: str = INDEF
    new_source: str = INDEF
    new_event: NewEventId = INDEF
    new_severity: int = Field(0, ge=0, le=3)
    new_category: str = INDEF
    new_description: str = INDEF

    @field_validator("new_event", mode="before")
    @classmethod
    def _event_as_text(cls, v: Any) -> Any:
        return str(v) if type(v) is int else v


class Selector(_Model):
    """Which alerts an entry applies to: event id, host (agent/host/container) and a raw-event substring."""

    event: EventId = Field(min_length=1)
    agent: str | None = None
    host: str | None = None
    container: str | None = None
    match: str = INDEF

    @field_validator("event", mode="before")
    @classmethod
    def _event_as_text(cls, v: Any) -> Any:
        return str(v) if type(v) is int else v

    def host_selector(self, section: str) -> str:
        """The host value this entry selects on ("indef" = any host)."""
        own = getattr(self, HOST_KEYS[section])
        if own is not None:
            return own
        for other in (self.agent, self.host, self.container):
            if other is not None:
                return other
        return INDEF


class GrayEntry(Selector):
    """A gray-list entry: passes the alert whatever the threshold and applies its response."""

    aggregate: Aggregate = Aggregate()
    response: Response = Response()


class Section(_Model):
    """One source's part of the policy (hids = Wazuh, nids = Suricata, waf = ModSecurity, crs = Falco)."""

    log: bool = True
    severity: Severity
    gray_list: list[GrayEntry] = []
    white_list: list[Selector] = []
    black_list: list[Selector] = []


class Sources(_Model):
    """The four source sections; a missing one gets the defaults below (threshold 0)."""

    hids: Section = Section(severity=Severity(level0=2, level1=4, level2=10))
    nids: Section = Section(severity=Severity(level0=1, level1=2, level2=3))
    waf: Section = Section(severity=Severity(level0=5, level1=4, level2=3))
    crs: Section = Section(severity=Severity(level0=2, level1=4, level2=6))

    @model_validator(mode="after")
    def _ladders_in_order(self) -> Self:
        for name in ("hids", "crs"):
            sev = getattr(self, name).severity
            if not sev.level0 <= sev.level1 <= sev.level2:
                raise ValueError(
                    f"{name}.severity: expected level0 <= level1 <= level2 (a higher native level is worse), "
                    f"got {sev.level0}/{sev.level1}/{sev.level2}"
                )
        sev = self.waf.severity
        if not sev.level0 >= sev.level1 >= sev.level2:
            raise ValueError(
                "waf.severity: ModSecurity's ladder is inverted, expected level0 >= level1 >= level2 "
                f"(Alertflex ships 5/4/3), got {sev.level0}/{sev.level1}/{sev.level2}"
            )
        return self


class HomeNet(_Model):
    """A home network; with `alert_suppress`, alerts whose srcip is inside it are dropped."""

    network: str
    netmask: str
    node: str = INDEF
    alert_suppress: bool = False

    @model_validator(mode="after")
    def _valid_network(self) -> Self:
        self.ip_network()
        return self

    def ip_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """`network`/`netmask` as an ip_network (netmask dotted or a prefix length)."""
        try:
            return ipaddress.ip_network(f"{self.network}/{self.netmask}", strict=False)
        except ValueError as exc:
            raise ValueError(f"network/netmask is not an IP network: {exc}") from None


class Policy(_Model):
    """A whole filter policy for one collector node."""

    filter_name: str = INDEF
    ref_id: str = INDEF
    filter_desc: str | None = None
    home_net: list[HomeNet] = []
    agents: list[Any] = []
    hosts: list[Any] = []
    name_space: list[Any] = []
    alias: list[Any] | None = None
    sources: Sources = Sources()


def parse_policy(data: bytes | dict[str, Any], *, origin: str) -> Policy:
    """A validated Policy from JSON bytes or a decoded dict; ConfigurationError names origin, path and expectation."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ConfigurationError(f"{origin}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{origin}: (top level): expected a JSON object, got {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(
            "invalid filter policy:\n" + describe_validation_error(exc, origin)
        ) from None


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; ConfigurationError when it is unreadable or invalid."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read policy file: {exc.strerror}") from None
    return parse_policy(data, origin=str(path))


def dump_policy(policy: Policy) -> dict[str, Any]:
    """The policy as JSON-ready data with only the keys its file had (a loaded file round-trips)."""
    return policy.model_dump(mode="json", exclude_unset=True)
