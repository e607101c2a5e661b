"""Response profiles, category profiles and user groups: models, YAML import/export, storage.

A profiles file looks like this (every section optional)::

    category_profiles:
      - {name: web-attacks, source_type: Suricata, categories: [Web Application Attack]}
    user_groups:
      - {name: soc, emails: [soc@example.org]}
    response_profiles:
      - name: block-scanner
        match: {category_profile: web-attacks, severity: 3, description_regex: "(?i)scan"}
        rate_limit: {max: 3, per_seconds: 600, key: srcip}
        group: {key: srcip, window_seconds: 300}
        actions:
          - {kind: playbook, deployment: block-ip/default}
          - {kind: email, group: soc}

Files are validated before anything is stored; errors name the file, the path inside it and
what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Connection, delete, func, select

from alertmodel import ALERT_COLUMNS, CategoryProfile, ResponseProfile, UserGroup
from alertmodel.errors import ConfigurationError, describe_validation_error, document_path
from alertmodel.types import utcnow

KEY_FIELDS = tuple(c for c in ALERT_COLUMNS if c not in {"json_event", "time_collr", "time_cntrl"})
"""Alert fields a rate limit or a group may be keyed on."""

SEVERITY_ANY = 4


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryProfileSpec(_Strict):
    """A named set of categories of one source type; `*` means every category of it."""

    name: str = Field(min_length=1, max_length=255)
    source_type: str = Field(min_length=1, max_length=32, description="Wazuh, Suricata, Falco, ...")
    categories: list[str] = Field(default_factory=lambda: ["*"], min_length=1)


class UserGroupSpec(_Strict):
    """People to notify: e-mail addresses, phone numbers (SMS) and a Slack channel."""

    name: str = Field(min_length=1, max_length=255)
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    slack_channel: str | None = Field(default=None, max_length=255)

    @field_validator("emails")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", address):
                raise ValueError(f"{address!r} is not an e-mail address (expected name@domain)")
        return value


class HourWindow(_Strict):
    """Hours of the day [start, end) in `timezone`; start > end wraps past midnight (22 → 6)."""

    start: int = Field(ge=0, le=23)
    end: int = Field(ge=0, le=24)
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _valid(self) -> HourWindow:
        if self.start == self.end:
            raise ValueError("start and end are equal; leave `hours` out to match at any hour")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {self.timezone!r} (expected e.g. UTC, Europe/Berlin)"
            ) from exc
        return self

    def contains(self, hour: int) -> bool:
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end


class MatchCriteria(_Strict):
    """Which alerts a profile takes. Every criterion left empty matches anything.

    The anchor is `source` + `event`, or `category_profile`, or none (then only alerts whose
    `action` names the profile match it, as a filter policy sets).
    """

    source: str | None = None
    event: str | None = None
    category_profile: str | None = None
    node: str = Field(default="*", description="Collector node, * = any.")
    severity: int = Field(default=SEVERITY_ANY, ge=0, le=4, description="0..3, or 4 = any.")
    agent: str | None = None
    container: str | None = None
    ip: str | None = Field(default=None, description="Equal to the alert's srcip or dstip.")
    user: str | None = None
    sensor: str | None = None
    file: str | None = None
    process: str | None = None
    description_regex: str | None = Field(default=None, description="re.search on the description.")
    hours: HourWindow | None = None

    @field_validator("description_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _one_anchor(self) -> MatchCriteria:
        if (self.source is None) != (self.event is None):
            raise ValueError("source and event go together: set both or neither")
        if self.event is not None and self.category_profile is not None:
            raise ValueError("source+event and category_profile are alternatives: set one of them")
        return self


class RateLimit(_Strict):
    """At most `max` firings per `per_seconds` (a window opened by the first firing) per key."""

    max: int = Field(ge=1)
    per_seconds: int = Field(ge=1)
    key: str | None = Field(default=None, description="Alert field, e.g. srcip; empty = per profile.")

    @field_validator("key")
    @classmethod
    def _field(cls, value: str | None) -> str | None:
        return _key_field(value)


class Grouping(_Strict):
    """Fire once per group: the first alert with a key value fires, later ones within the window join."""

    key: str
    window_seconds: int = Field(ge=1)

    @field_validator("key")
    @classmethod
    def _field(cls, value: str) -> str:
        return _key_field(value) or value


def _key_field(value: str | None) -> str | None:
    if value is not None and value not in KEY_FIELDS:
        raise ValueError(f"{value!r} is not an alert field (expected one of {', '.join(KEY_FIELDS)})")
    return value


class PlaybookAction(_Strict):
    """Run a Prefect deployment (`flow-name/deployment-name`) with the alert as parameter `alert`."""

    kind: Literal["playbook"]
    deployment: str = Field(pattern=r"^[^/]+/[^/]+$", description="flow-name/deployment-name")


class IncidentAction(_Strict):
    """Open an incident for the alert (its status becomes `incident`)."""

    kind: Literal["incident"]
    assignee: str | None = None


class EmailAction(_Strict):
    """E-mail the alert to a user group through an SMTP server block."""

    kind: Literal["email"]
    group: str
    block: str = Field(default="default", description="Name of the SmtpServer block.")


class SlackAction(_Strict):
    kind: Literal["slack"]
    group: str
    block: str = Field(default="default", description="Name of the SlackWorkspace block.")


class TwilioAction(_Strict):
    kind: Literal["twilio"]
    group: str
    block: str = Field(default="default", description="Name of the TwilioAccount block.")


class TheHiveAction(_Strict):
    kind: Literal["thehive"]
    block: str = Field(default="default", description="Name of the TheHiveServer block.")


class JiraAction(_Strict):
    kind: Literal["jira"]
    project: str | None = None
    block: str = Field(default="default", description="Name of the JiraSite block.")


Action = Annotated[
    PlaybookAction | IncidentAction | EmailAction | SlackAction | TwilioAction | TheHiveAction | JiraAction,
    Field(discriminator="kind"),
]
ACTION_KINDS = ("playbook", "incident", "email", "slack", "twilio", "thehive", "jira")


class ResponseProfileSpec(_Strict):
    """What to do when an alert matches."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^:\s]+$")
    enabled: bool = True
    match: MatchCriteria = Field(default_factory=MatchCriteria)
    rate_limit: RateLimit | None = None
    group: Grouping | None = None
    actions: list[Action] = Field(min_length=1)

    @field_validator("actions")
    @classmethod
    def _one_playbook(cls, value: list[Any]) -> list[Any]:
        if sum(1 for a in value if a.kind == "playbook") > 1:
            raise ValueError(
                "a profile runs at most one playbook (its flow run is keyed alert:profile); "
                "make a second profile"
            )
        return value

    @property
    def playbook(self) -> PlaybookAction | None:
        return next((a for a in self.actions if isinstance(a, PlaybookAction)), None)


class ProfileFile(_Strict):
    """Everything a profiles YAML file holds."""

    category_profiles: list[CategoryProfileSpec] = Field(default_factory=list)
    user_groups: list[UserGroupSpec] = Field(default_factory=list)
    response_profiles: list[ResponseProfileSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ProfileFile:
        for section in ("category_profiles", "user_groups", "response_profiles"):
            seen: set[str] = set()
            for item in getattr(self, section):
                if item.name in seen:
                    raise ValueError(f"{section}: name {item.name!r} is defined twice")
                seen.add(item.name)
        return self

    def check_references(self, *, known_categories: set[str], known_groups: set[str]) -> None:
        """Raise ValueError naming the first profile that refers to a missing category profile or group."""
        for loc, problem in self.reference_problems(
            known_categories=known_categories, known_groups=known_groups
        ):
            raise ValueError(f"{document_path(loc)}: {problem}")

    def reference_problems(
        self, *, known_categories: set[str], known_groups: set[str]
    ) -> Iterator[tuple[tuple[int | str, ...], str]]:
        """(path, problem) of each reference to a category profile or user group that is neither here nor known."""
        categories = known_categories | {c.name for c in self.category_profiles}
        groups = known_groups | {g.name for g in self.user_groups}
        for i, profile in enumerate(self.response_profiles):
            ref = profile.match.category_profile
            if ref is not None and ref not in categories:
                yield (
                    ("response_profiles", i, "match", "category_profile"),
                    f"no category profile {ref!r} "
                    f"(expected one of: {', '.join(sorted(categories)) or 'none defined'})",
                )
            for j, action in enumerate(profile.actions):
                group = getattr(action, "group", None)
                if group is not None and group not in groups:
                    yield (
                        ("response_profiles", i, "actions", j, "group"),
                        f"no user group {group!r} (expected one of: {', '.join(sorted(groups)) or 'none defined'})",
                    )


def parse_profiles(data: bytes | str | Mapping[str, Any], *, origin: str) -> ProfileFile:
    """Validate a profiles document; ConfigurationError names `origin`, the path and what was expected."""
    if isinstance(data, bytes | str):
        try:
            data = yaml.safe_load(data) or {}
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return ProfileFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(
            describe_validation_error(exc, origin, lambda loc: document_path(loc, skip=ACTION_KINDS))
        ) from exc


def load_profiles_file(path: str | Path) -> ProfileFile:
    """Read and validate a profiles YAML file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read profiles file: {exc.strerror}") from exc
    return parse_profiles(raw, origin=str(path))


def dump_profiles(profiles: ProfileFile) -> str:
    """The profiles as YAML that `parse_profiles` reads back to an equal ProfileFile."""
    return yaml.safe_dump(
        profiles.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True
    )


def store_profiles(conn: Connection, profiles: ProfileFile, *, origin: str) -> None:
    """Insert or replace every item of `profiles` by name, in the caller's transaction.

    Every response profile's `updated_at` moves, which is how running matchers notice a change.
    """
    known_categories = set(conn.execute(select(CategoryProfile.name)).scalars())
    known_groups = set(conn.execute(select(UserGroup.name)).scalars())
    try:
        profiles.check_references(known_categories=known_categories, known_groups=known_groups)
    except ValueError as exc:
        raise ConfigurationError(f"{origin}: {exc}") from exc
    cat, grp, rsp = CategoryProfile.__table__, UserGroup.__table__, ResponseProfile.__table__
    for c in profiles.category_profiles:
        conn.execute(delete(cat).where(cat.c.name == c.name))
        conn.execute(cat.insert().values(name=c.name, source_type=c.source_type, categories=c.categories))
    for g in profiles.user_groups:
        conn.execute(delete(grp).where(grp.c.name == g.name))
        conn.execute(grp.insert().values(**g.model_dump()))
    now = utcnow()
    for p in profiles.response_profiles:
        conn.execute(delete(rsp).where(rsp.c.name == p.name))
        conn.execute(
            rsp.insert().values(
                name=p.name,
                enabled=p.enabled,
                criteria=p.model_dump(mode="json", include={"match", "rate_limit", "group"}),
                actions=[a.model_dump(mode="json") for a in p.actions],
                created_at=now,
                updated_at=now,
            )
        )
    conn.execute(rsp.update().values(updated_at=now))


_SECTION_TABLES = {
    "category_profiles": CategoryProfile.__table__,
    "user_groups": UserGroup.__table__,
    "response_profiles": ResponseProfile.__table__,
}


def delete_item(conn: Connection, section: str, name: str) -> bool:
    """Delete one item of a `ProfileFile` section by name, in the caller's transaction; False when absent.

    Like `store_profiles`, it moves every response profile's `updated_at` so running matchers re-index.
    """
    table = _SECTION_TABLES[section]
    deleted = conn.execute(delete(table).where(table.c.name == name)).rowcount
    rsp = ResponseProfile.__table__
    conn.execute(rsp.update().values(updated_at=utcnow()))
    return bool(deleted)


def read_profiles(conn: Connection) -> ProfileFile:
    """Everything stored, as one ProfileFile (what `export` writes and the matcher indexes)."""
    cat, grp, rsp = CategoryProfile.__table__, UserGroup.__table__, ResponseProfile.__table__
    return ProfileFile(
        category_profiles=[
            CategoryProfileSpec(name=r.name, source_type=r.source_type, categories=r.categories)
            for r in conn.execute(select(cat).order_by(cat.c.name))
        ],
        user_groups=[
            UserGroupSpec(name=r.name, emails=r.emails, phones=r.phones, slack_channel=r.slack_channel)
            for r in conn.execute(select(grp).order_by(grp.c.name))
        ],
        response_profiles=[
            ResponseProfileSpec.model_validate(
                {"name": r.name, "enabled": r.enabled, "actions": r.actions, **r.criteria}
            )
            for r in conn.execute(select(rsp).order_by(rsp.c.name))
        ],
    )


def profiles_fingerprint(conn: Connection) -> tuple[Any, ...]:
    """A cheap value that changes whenever profiles are imported (count and newest update)."""
    rsp = ResponseProfile.__table__
    return tuple(conn.execute(select(func.count(), func.max(rsp.c.updated_at))).one())


def read_user_group(conn: Connection, name: str) -> UserGroupSpec:
    """The user group called `name`; ConfigurationError when there is none."""
    grp = UserGroup.__table__
    row = conn.execute(select(grp).where(grp.c.name == name)).first()
    if row is None:
        raise ConfigurationError(f"no user group {name!r}; import one with `alertflow profiles import`")
    return UserGroupSpec(name=row.name, emails=row.emails, phones=row.phones, slack_channel=row.slack_channel)
