"""Process settings, read from `ALERTFLOW_*` environment variables: where the data and the alert store are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from alertmodel.alert import SEVERITY_NAMES
from alertmodel.ingest_token import MIN_INGEST_TOKEN_BYTES, check_ingest_token
from alertmodel.retention import RetentionPolicy


class Settings(BaseSettings):
    """Where alertflow keeps its data and how it logs."""

    # hide_input_in_errors: a refused secret (a short token, a database URL) never appears in the error
    model_config = SettingsConfigDict(env_prefix="ALERTFLOW_", extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Field(
        default_factory=lambda: Path.home() / ".alertflow",
        description="Directory for the embedded SQLite database, checkpoints and the local Prefect home.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the alert store; sqlite:///<data_dir>/alertflow.db when unset, "
        "mysql+pymysql://user:pass@host:3306/db for MariaDB/MySQL.",
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")
    ingest_token: SecretStr | None = Field(
        default=None,
        description="Bearer token the ingest worker's HTTP endpoint (POST /ingest) requires, at least "
        f"{MIN_INGEST_TOKEN_BYTES} bytes; the endpoint refuses to start without one. Empty means unset.",
    )
    node: str = Field(default="local", description="Name of the collector node this worker ingests for.")
    json_event_max_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Bytes of an alert's raw event (json_event) stored at most; a longer one is stored as "
        '{"truncated": true, "bytes": N, "head": "<its start>"}.',
    )
    dead_letter_max_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Bytes of a dead letter's raw input stored at most; a longer one is cut and ends in "
        "'…[truncated N bytes]'.",
    )
    dispatch_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Actions the ingest worker's dispatcher performs at once (flow runs created at once); "
        "more keeps a Prefect server on PostgreSQL busy in a burst, a SQLite one only waits on its lock.",
    )
    rerun_crashed_playbooks: bool = Field(
        default=True,
        description="The dispatcher runs a Crashed playbook run again, once, when its deployment is declared "
        "safe to repeat (tag alertflow:safe-to-repeat); `alertflow up` turns it off for its ingest worker, "
        "as up reschedules its own runner's crashed runs itself.",
    )

    retain_alerts_days: int | None = Field(
        default=None,
        ge=1,
        description="Days an alert is kept (by its collection time) unless an incident refers to it; "
        "unset keeps alerts for ever.",
    )
    retain_alerts_days_by_severity: dict[int, int] = Field(
        default_factory=dict,
        description='Per-severity overrides of retain_alerts_days (0 Info .. 3 Critical), e.g. {"3": 365}.',
    )
    retain_dead_letters_days: int | None = Field(default=30, ge=1, description="Days a dead letter is kept.")
    retain_outbox_done_days: int | None = Field(
        default=7, ge=1, description="Days a done outbox row (a performed action) is kept; failed ones stay."
    )
    retention_batch_rows: int = Field(
        default=1000, ge=1, le=100_000, description="Rows deleted per transaction when pruning."
    )
    prefect_retain_flow_runs_days: int | None = Field(
        default=30,
        ge=1,
        description="Days Prefect keeps a finished flow run (with its logs and artifacts) after it ended; "
        "the local Prefect server of `alertflow up` runs its database vacuum with this. Unset keeps them.",
    )
    archive_alerts: bool = Field(
        default=False,
        description="Before retention deletes alerts, append them to gzip JSON-lines files, one per "
        "collection day (alerts-YYYY-MM-DD.jsonl.gz); `alertflow ingest-file` stores them again.",
    )
    archive_dir: Path | None = Field(
        default=None, description="Directory of the alert archive; <data_dir>/archive when unset."
    )

    @field_validator("retain_alerts_days_by_severity")
    @classmethod
    def _known_severities(cls, value: dict[int, int]) -> dict[int, int]:
        for severity, days in value.items():
            if severity not in SEVERITY_NAMES or days < 1:
                raise ValueError("retain_alerts_days_by_severity maps a severity 0-3 to at least 1 day")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {value!r}")
        return level

    @field_validator("ingest_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        check_ingest_token(value)
        return value

    @property
    def resolved_database_url(self) -> str:
        """The URL to connect with: the configured one, or the SQLite file in the data dir."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir.expanduser() / 'alertflow.db'}"

    def retention(self) -> RetentionPolicy:
        """The retention policy these settings describe."""
        return RetentionPolicy(
            alert_days=self.retain_alerts_days,
            alert_days_by_severity=dict(self.retain_alerts_days_by_severity),
            dead_letter_days=self.retain_dead_letters_days,
            outbox_done_days=self.retain_outbox_done_days,
            batch_rows=self.retention_batch_rows,
            archive_dir=self.resolved_archive_dir if self.archive_alerts else None,
        )

    @property
    def resolved_archive_dir(self) -> Path:
        """Where archived alerts go: archive_dir, or `archive` in the data dir."""
        return (self.archive_dir or self.data_dir / "archive").expanduser()

    def masked(self) -> dict[str, Any]:
        """Every setting as printable text, passwords and secrets replaced by '***'."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url":
                value = mask_url(self.resolved_database_url)
            elif isinstance(value, SecretStr):
                value = "***" if value.get_secret_value() else ""
            shown[name] = str(value)
        return shown


def mask_url(url: str) -> str:
    """A database URL with its password replaced by '***'."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL may still hold a secret: show nothing of it
        return "*** (unparsable URL)"


def get_settings() -> Settings:
    """Fresh settings from the current environment (cheap; no caching so tests can monkeypatch)."""
    return Settings()
