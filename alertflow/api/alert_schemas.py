"""Alerts in the API: the search parameters, one alert, a page of them, related alerts, their response."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from alertflow.api.timeparam import IsoDateTime
from alertmodel.alert import ALERT_FIELD_WIDTHS, ALERT_STATUSES

Severity = Annotated[int, Field(ge=0, le=3)]
Port = Annotated[int, Field(ge=0, le=65535)]
AlertSort = Literal["-time_collr", "time_collr", "-severity", "severity"]
_HASH = re.compile(r"^[0-9A-Fa-f]{32}$|^[0-9A-Fa-f]{40}$|^[0-9A-Fa-f]{64}$")


def _field(name: str, description: str) -> Any:
    return Field(default=None, max_length=ALERT_FIELD_WIDTHS[name], description=description)


class AlertFilters(BaseModel):
    """Filters of an alert search or export (all optional, all combined with AND)."""

    model_config = ConfigDict(extra="forbid")

    since: IsoDateTime | None = Field(default=None, description="time_collr at or after (naive = UTC).")
    until: IsoDateTime | None = Field(default=None, description="time_collr before (naive = UTC).")
    source: str | None = _field("source", "Suricata, Wazuh, Falco, ModSecurity, MISP...")
    severity: list[Severity] | None = Field(default=None, max_length=4, description="Any of these (0-3).")
    min_severity: Severity | None = None
    status: list[Literal[ALERT_STATUSES]] | None = Field(default=None, max_length=4)  # type: ignore[valid-type]
    category: str | None = _field("category", "Exact category.")
    profile: str | None = Field(
        default=None,
        max_length=255,
        description="A categories profile: alerts of its source type with any of its categories.",
    )
    node: str | None = _field("node_id", "Collector node (node_id).")
    event: str | None = _field("event", "Event id (e.g. a Suricata signature id).")
    agent: str | None = _field("agent", "Exact agent.")
    sensor: str | None = _field("sensor", "Exact sensor.")
    tenant: str | None = _field("ref_id", "Only this ref_id (within the caller's own tenants).")
    srcip: str | None = Field(default=None, max_length=64, description="An address or an IPv4 CIDR.")
    dstip: str | None = Field(default=None, max_length=64, description="An address or an IPv4 CIDR.")
    ip: str | None = Field(
        default=None, max_length=64, description="Source or destination: address or IPv4 CIDR."
    )
    srcport: Port | None = None
    dstport: Port | None = None
    port: Port | None = Field(default=None, description="Source or destination port.")
    user: str | None = _field("user", "Exact user.")
    file: str | None = _field("file", "Exact file.")
    process: str | None = _field("process", "Exact process.")
    hash: str | None = Field(default=None, description="An MD5, SHA-1 or SHA-256 (hex) of the alert's file.")
    q: str | None = Field(
        default=None, min_length=1, max_length=256, description="Text in the description (case-insensitive)."
    )

    @field_validator("srcip", "dstip", "ip")
    @classmethod
    def _address_or_cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError("expected an IP address or an IPv4 CIDR such as 10.0.0.0/8") from None
        if "/" in value and network.version == 6 and network.prefixlen != 128:
            raise ValueError("CIDR filters take IPv4 networks; give an IPv6 address in full")
        return value

    @field_validator("hash")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is not None and not _HASH.match(value):
            raise ValueError("expected 32, 40 or 64 hex digits (MD5, SHA-1 or SHA-256)")
        return value.lower() if value else value


class AlertSearch(AlertFilters):
    """Filters of `GET /alerts` and the page to return."""

    sort: AlertSort = Field(default="-time_collr", description="Newest (or oldest, or most severe) first.")
    limit: int = Field(default=50, ge=1, le=500, description="Page size (at most 500).")
    cursor: str | None = Field(default=None, max_length=512, description="next_cursor of the previous page.")


class AlertExport(AlertFilters):
    """Filters of `GET /alerts/export` and the format to write."""

    format: Literal["jsonl", "csv", "stix", "ocsf", "ecs"] = Field(
        default="jsonl",
        description="jsonl: one Alertflex record per line (json_event parsed); csv: one row per alert; "
        "stix: a STIX 2.1 bundle, one observed-data per alert; ocsf: one OCSF 1.7.0 Detection "
        "Finding (class 2004) per line; ecs: one Elastic Common Schema document per line.",
    )


class AlertSummary(BaseModel):
    """An alert without its raw event."""

    alert_uuid: str
    node_id: str
    ref_id: str
    source: str
    type: str
    event: str
    severity: int
    score: int
    category: str
    description: str
    srcip: str
    dstip: str
    srcagent: str
    dstagent: str
    srcport: int
    dstport: int
    user: str
    process: str
    file: str
    agent: str
    container: str
    sensor: str
    location: str
    status: str
    action: str
    filter: str
    info: str
    time_event: str
    time_collr: datetime
    time_cntrl: datetime | None
    hash_md5: str
    hash_sha1: str
    hash_sha256: str
    proto: str
    url: str


class Alert(AlertSummary):
    """Every field of an alert; `json_event` is the raw event, parsed (or the text when it is not JSON)."""

    json_event: Any


class AlertPage(BaseModel):
    items: list[AlertSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class RelatedAlerts(BaseModel):
    """The newest other alerts that share the alert's source IP, event or agent."""

    srcip: list[AlertSummary]
    event: list[AlertSummary]
    agent: list[AlertSummary]


class PlaybookRun(BaseModel):
    """A Prefect flow run a response profile started for the alert."""

    profile: str
    deployment: str
    flow_run_id: str | None
    state: str
    group_lead: str | None
    created_at: datetime
    updated_at: datetime
    rerun_of: str | None = Field(
        default=None,
        description="The Crashed flow run this one repeats: a playbook declared safe to repeat is run "
        "again once after its worker died.",
    )
    ui_url: str | None = Field(description="The run in the Prefect UI, when the API knows where that is.")

    @computed_field(  # type: ignore[prop-decorator]
        description="Crashed and not run again: a playbook not declared safe to repeat, or a repeat that "
        "crashed too (one declared safe is run again within seconds, and then names the crashed run in rerun_of)."
    )
    @property
    def needs_human(self) -> bool:
        return self.state == "CRASHED"
