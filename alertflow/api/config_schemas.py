"""Bodies of the configuration routes that are not the import file's own models (response.profiles)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from alertflow.api.schemas import Body, text


class Category(BaseModel):
    """A category of one source type: registered when an alert first shows it, or created here."""

    id: int
    name: str
    source_type: str
    description: str
    first_seen: datetime


class CategoryCreate(Body):
    name: text(512, 1)  # type: ignore[valid-type]
    source_type: text(32, 1) = Field(description="Wazuh, Suricata, Falco, ModSecurity, ...")  # type: ignore[valid-type]
    description: text(1024) = ""  # type: ignore[valid-type]


class PolicyVersionInfo(BaseModel):
    """One stored version of a node's filter policy, without its body."""

    node: str
    version: int
    created: datetime
    active: bool
    filter_name: str = Field(description="The policy's `filter_name` (copied into every alert it passes).")
    ref_id: str = Field(description="The tenant the policy stamps on alerts.")


class PolicyVersion(PolicyVersionInfo):
    """One version with its body (Alertflex `filters.json`)."""

    body: dict[str, Any]


class PolicyNode(BaseModel):
    """A node that has filter policy versions."""

    node: str
    versions: int
    latest_version: int
    active_version: int | None = Field(description="null: the node's workers run without a policy.")


class PolicyChange(BaseModel):
    """One difference between two versions: the JSON path, and the value on each side (absent = null)."""

    path: str = Field(description="e.g. `sources.hids.gray_list[0].response.new_severity`")
    change: str = Field(description="added, removed or changed")
    before: Any = None
    after: Any = None


class PolicyDiff(BaseModel):
    """What changes from version `from_version` to `to_version`."""

    node: str
    from_version: int
    to_version: int
    changes: list[PolicyChange]
    unified: str = Field(description="A unified diff of the two bodies as indented JSON.")
