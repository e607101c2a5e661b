"""An IDS sensor whose rules and IP block lists playbooks update: where the files live, how to check and reload."""

from __future__ import annotations

import posixpath
from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, field_validator

from blocks.host import HostProfile


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
        description="Absolute path of the IP list alertflow manages: a Suricata iprep file or a Wazuh CDB list.",
    )
    blocklist_category: int = Field(
        default=1, ge=1, le=60, description="Suricata iprep category id written for block-listed IPs."
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
