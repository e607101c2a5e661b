"""An IDS sensor whose rules and IP block lists playbooks update: where the files live, how to
check and reload them, and what a block-list job may never block."""

from __future__ import annotations

import ipaddress
import posixpath
from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, field_validator, model_validator

from blocks.host import HostProfile

DEFAULT_OWN_NETWORKS = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)
"""Private, loopback, link-local, shared (RFC 6598) and multicast ranges: blocking them cuts off your own network."""


class IdsSensor(Block):
    """A Suricata or Wazuh sensor: its host, rule/list files and the commands that check and reload them."""

    _block_type_name = "alertflow IDS Sensor"
    _description = "A Suricata or Wazuh sensor reached over SSH, with its rule and block-list files."

    host: HostProfile = Field(description="The host the sensor runs on.")
    kind: Literal["suricata", "wazuh"] = Field(description="Sensor software: 'suricata' or 'wazuh'.")
    rules_path: str | None = Field(
        default=None, description="Absolute path of the rules file alertflow manages (Suricata)."
    )
    blocklist_path: str | None = Field(
        default=None,
        description="Absolute path of the IP list alertflow manages: a Suricata iprep file or a Wazuh CDB list. "
        "Block-list jobs add and remove entries in it, never replace it, holding a flock (util-linux) "
        "on '<path>.alertflow-lock' meanwhile.",
    )
    blocklist_category: int = Field(
        default=1, ge=1, le=60, description="Suricata iprep category id written for block-listed IPs."
    )
    blocklist_networks: bool = Field(
        default=False,
        description="Let block-list jobs add CIDR networks, no wider than blocklist_min_prefix_v4/_v6. "
        "Off (the default): single addresses only, so an alert claiming 0.0.0.0/0 blocks nothing. "
        "Suricata only: Wazuh CDB lists hold addresses.",
    )
    blocklist_min_prefix_v4: int = Field(
        default=24,
        ge=8,
        le=32,
        description="With blocklist_networks: the shortest IPv4 prefix a job may block (24: a /24 "
        "at most; a /16 is refused). Never below 8.",
    )
    blocklist_min_prefix_v6: int = Field(
        default=48,
        ge=16,
        le=128,
        description="With blocklist_networks: the shortest IPv6 prefix a job may block. Never below 16.",
    )
    own_networks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_OWN_NETWORKS),
        description="Your networks: no block-list job blocks an address in them or a network that "
        "overlaps them. Default: private, loopback, link-local, shared and multicast ranges; add your "
        "public ranges. An empty list turns this protection off.",
    )
    never_block: list[str] = Field(
        default_factory=list,
        description="Addresses or networks never blocked whatever an alert says: resolvers, gateways, "
        "partners, the SIEM and its sensors.",
    )
    suricata_config: str = Field(
        default="/etc/suricata/suricata.yaml",
        description="Suricata configuration used by the default rules check (suricata -T).",
    )
    check_command: list[str] = Field(
        default_factory=list,
        description="Argument list run on the sensor to validate a pushed rules file; '{path}' is the "
        "file, '{tmpdir}' a scratch directory. Empty: for Suricata "
        "'suricata -T -c <suricata_config> -S {path} -l {tmpdir}', for Wazuh no check.",
    )
    blocklist_check_command: list[str] = Field(
        default_factory=list,
        description="Argument list run on the sensor to validate a pushed IP list ('{path}', "
        "'{tmpdir}' as above). Empty: the list is only validated before it is sent.",
    )
    reload_command: list[str] = Field(
        default_factory=list,
        description="Argument list run on the sensor after a successful check ('{path}' as above), e.g. "
        "['suricatasc', '-c', 'reload-rules'] or ['/var/ossec/bin/wazuh-control', 'reload']. "
        "Empty: no reload.",
    )

    @field_validator("rules_path", "blocklist_path")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        if path is not None and (not posixpath.isabs(path) or ".." in path.split("/")):
            raise ValueError(f"{path!r} must be an absolute path without '..'")
        return path

    @field_validator("own_networks", "never_block")
    @classmethod
    def _networks(cls, entries: list[str]) -> list[str]:
        checked = []
        for entry in entries:
            try:
                checked.append(str(ipaddress.ip_network(entry.strip(), strict=True)))
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (host bits must be zero: 10.0.0.0/8)"
                ) from None
        return checked

    @model_validator(mode="after")
    def _networks_only_on_suricata(self) -> IdsSensor:
        if self.blocklist_networks and self.kind == "wazuh":
            raise ValueError("blocklist_networks needs a Suricata sensor: Wazuh CDB lists hold addresses")
        return self
