"""The outbox writer: a batch hook that turns matching alerts into outbox rows, in the batch transaction.

Rate-limit and group state live in the database and change in the same transaction as the
alerts, so a crash, a restart or a second worker never fires a profile twice for one
window nor loses a firing: the batch commits with its outbox rows or not at all.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from alertmodel import Outbox, PlaybookRun, ResponseGroup, ResponseRate
from alertmodel.repository import insert_ignoring_duplicates
from alertmodel.types import utcnow
from response.matcher import INDEF, CompiledProfile, ProfileIndex
from response.payload import OutboxPayload
from response.profiles import ResponseProfileSpec, profiles_fingerprint, read_profiles

_OUTBOX = Outbox.__table__
_RUNS = PlaybookRun.__table__
_RATES = ResponseRate.__table__
_GROUPS = ResponseGroup.__table__


def outbox_key(alert_uuid: str, profile: str, action_index: int) -> str:
    """The outbox row's unique key: one row per alert, profile and action."""
    return f"{alert_uuid}:{profile}:{action_index}"


def key_value(alert: Mapping[str, Any], field: str | None) -> str:
    """The alert's value of a rate-limit/group key field, short enough for an index."""
    if field is None:
        return "*"
    value = str(alert.get(field, INDEF))
    if len(value) > 200:
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return value


class ResponseHook:
    """A `BatchHook`: match each newly stored alert and write one outbox row per firing action.

    The profile index is rebuilt when `alertflow profiles import` changed the profiles (one
    cheap aggregate query per batch tells).
    """

    def __init__(self, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._index = ProfileIndex([])
        self._fingerprint: tuple[Any, ...] | None = None
        self.counts: Counter[str] = Counter()

    def __call__(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        self._refresh(conn)
        if not rows or not len(self._index):
            return
        now = self._clock()
        outbox: list[dict[str, Any]] = []
        runs: list[dict[str, Any]] = []
        for alert in rows:
            for profile in self._index.match(alert, now):
                self._fire(conn, profile, alert, now, outbox, runs)
        insert_ignoring_duplicates(conn, _OUTBOX, outbox, ("key",))
        insert_ignoring_duplicates(conn, _RUNS, runs, ("alert_uuid", "profile"))

    def _refresh(self, conn: Connection) -> None:
        fingerprint = profiles_fingerprint(conn)
        if fingerprint != self._fingerprint:
            stored = read_profiles(conn)
            self._index = ProfileIndex(stored.response_profiles, stored.category_profiles)
            self._fingerprint = fingerprint

    def _fire(
        self,
        conn: Connection,
        profile: CompiledProfile,
        alert: Mapping[str, Any],
        now: datetime,
        outbox: list[dict[str, Any]],
        runs: list[dict[str, Any]],
    ) -> None:
        spec = profile.spec
        uuid = alert["alert_uuid"]
        group = None
        if spec.group is not None:
            group = self._open_group(conn, spec, alert, now)
            if group is not None and group.closes_at > now:
                self._join_group(conn, spec, group, uuid, now, runs)
                return
        if spec.rate_limit is not None and not self._take_rate(conn, spec, alert, now):
            self.counts["rate_limited"] += 1
            return
        lead = None
        if spec.group is not None:
            lead = uuid
            self._start_group(conn, spec, group, key_value(alert, spec.group.key), uuid, now)
        for i, action in enumerate(spec.actions):
            outbox.append(
                {
                    "kind": action.kind,
                    "key": outbox_key(uuid, spec.name, i),
                    "payload": OutboxPayload(
                        profile=spec.name, action_index=i, alert_uuid=uuid, action=action
                    ).model_dump(mode="json"),
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        playbook = spec.playbook
        if playbook is not None:
            runs.append(_run_row(uuid, spec.name, playbook.deployment, None, lead, now))
        self.counts["fired"] += 1

    def _open_group(
        self, conn: Connection, spec: ResponseProfileSpec, alert: Mapping[str, Any], now: datetime
    ) -> Any:
        assert spec.group is not None
        return conn.execute(
            select(_GROUPS)
            .where(_GROUPS.c.profile == spec.name, _GROUPS.c.group_key == key_value(alert, spec.group.key))
            .with_for_update()
        ).first()

    def _join_group(
        self,
        conn: Connection,
        spec: ResponseProfileSpec,
        group: Any,
        uuid: str,
        now: datetime,
        runs: list[dict[str, Any]],
    ) -> None:
        conn.execute(
            _GROUPS.update().where(_GROUPS.c.id == group.id).values(alert_count=_GROUPS.c.alert_count + 1)
        )
        playbook = spec.playbook
        if playbook is not None:
            flow_run_id = conn.execute(
                select(_RUNS.c.flow_run_id).where(
                    _RUNS.c.alert_uuid == group.lead_alert_uuid, _RUNS.c.profile == spec.name
                )
            ).scalar()
            runs.append(
                _run_row(uuid, spec.name, playbook.deployment, flow_run_id, group.lead_alert_uuid, now)
            )
        self.counts["grouped"] += 1

    def _start_group(
        self, conn: Connection, spec: ResponseProfileSpec, old: Any, key: str, uuid: str, now: datetime
    ) -> None:
        assert spec.group is not None
        values = {
            "lead_alert_uuid": uuid,
            "opened_at": now,
            "closes_at": now + timedelta(seconds=spec.group.window_seconds),
            "alert_count": 1,
        }
        if old is None:
            conn.execute(_GROUPS.insert().values(profile=spec.name, group_key=key, **values))
        else:
            conn.execute(_GROUPS.update().where(_GROUPS.c.id == old.id).values(**values))

    def _take_rate(
        self, conn: Connection, spec: ResponseProfileSpec, alert: Mapping[str, Any], now: datetime
    ) -> bool:
        """Count one firing against the profile's rate limit; False when the window is full."""
        limit = spec.rate_limit
        assert limit is not None
        key = key_value(alert, limit.key)
        row = conn.execute(
            select(_RATES).where(_RATES.c.profile == spec.name, _RATES.c.rate_key == key).with_for_update()
        ).first()
        if row is None:
            conn.execute(_RATES.insert().values(profile=spec.name, rate_key=key, window_start=now, count=1))
            return True
        if now >= row.window_start + timedelta(seconds=limit.per_seconds):
            conn.execute(_RATES.update().where(_RATES.c.id == row.id).values(window_start=now, count=1))
            return True
        if row.count < limit.max:
            conn.execute(_RATES.update().where(_RATES.c.id == row.id).values(count=row.count + 1))
            return True
        return False


def _run_row(
    uuid: str, profile: str, deployment: str, flow_run_id: str | None, lead: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "alert_uuid": uuid,
        "profile": profile,
        "deployment": deployment,
        "flow_run_id": flow_run_id,
        "state": "grouped" if lead not in (None, uuid) else "pending",
        "group_lead": lead,
        "created_at": now,
        "updated_at": now,
    }
