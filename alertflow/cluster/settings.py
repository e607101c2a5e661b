"""The settings of `alertflow cluster` (environment: ALERTFLOW_CLUSTER_*, then cluster.env)."""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The one file of host-independent settings: docker-compose.yml reads it as its env_file.
ENV_FILE = Path(__file__).with_name("cluster.env")


class ClusterSettings(BaseSettings):
    """Shape, ports and service addresses of the native cluster (environment: ALERTFLOW_CLUSTER_*)."""

    model_config = SettingsConfigDict(env_prefix="ALERTFLOW_CLUSTER_", extra="ignore")

    data_dir: Path | None = Field(
        default=None,
        description="Logs, pid files and secrets of the cluster [default: $ALERTFLOW_DATA_DIR/cluster].",
    )
    ingest_workers: int = Field(default=2, ge=1, le=32, description="Competing STOMP ingest workers.")
    api_servers: int = Field(
        default=2, ge=1, le=16, description="Prefect API servers behind the load balancer."
    )
    prefect_workers: int = Field(default=2, ge=1, le=32, description="Prefect workers on the process pool.")
    worker_limit: int = Field(
        default=4, ge=1, le=64, description="Flow runs one Prefect worker runs at once."
    )
    work_pool: str = Field(default="alertflow-process", description="The process work pool of prefect.yaml.")
    stomp_host: str = Field(default="127.0.0.1", description="ActiveMQ's STOMP address.")
    stomp_port: int = Field(default=61613, ge=1, le=65535)
    stomp_queue: str = Field(default="/queue/alertflow.alerts", description="The queue ingest workers share.")
    lb_port: int = Field(default=4200, ge=1, le=65535, description="The load balancer: Prefect API and UI.")
    prefect_port_base: int = Field(default=4201, ge=1, le=65535, description="First API server's port.")
    api_port: int = Field(default=8181, ge=1, le=65535, description="The REST API and console (HTTPS).")
    metrics_port_base: int = Field(
        default=9481, ge=1, le=65535, description="First ingest worker's /metrics."
    )
    worker_health_port_base: int = Field(
        default=8581, ge=1, le=65535, description="First Prefect worker's health endpoint."
    )
    postgres_admin_url: SecretStr = Field(
        default=SecretStr("postgresql://postgres@127.0.0.1:5432/postgres"),
        description="A PostgreSQL superuser: creates the Prefect role and database when missing.",
    )
    prefect_database: str = Field(default="alertflow_prefect", description="Prefect's database and role.")
    mariadb_admin_url: SecretStr = Field(
        default=SecretStr("mysql+pymysql://root@127.0.0.1:3306/"),
        description="A MariaDB administrator: creates the alert store's database and user when missing.",
    )
    alert_database: str = Field(default="alertflow", description="The alert store's database and user.")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis for Prefect's messaging.")
    start_timeout_s: int = Field(
        default=300,
        ge=60,
        description="A flow run a worker claimed but did not start within this long (s) is marked Crashed.",
    )
    ready_timeout_s: float = Field(default=300, gt=0, description="Give up starting after this long (s).")

    @property
    def lb_api_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}/api"

    @property
    def stomp_source(self) -> str:
        return f"stomp://{self.stomp_host}:{self.stomp_port}{self.stomp_queue}"

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"


def file_values(env_file: Path = ENV_FILE) -> dict[str, str]:
    """The settings in `env_file` (names to values; empty values left out)."""
    if not env_file.is_file():
        from alertmodel.errors import ConfigurationError

        raise ConfigurationError(f"{env_file}: no such settings file")
    return {name: value for name, value in dotenv_values(env_file).items() if value}


def load(env_file: Path = ENV_FILE) -> ClusterSettings:
    """The cluster's settings: the environment first, then `env_file`."""
    return ClusterSettings(_env_file=env_file)  # type: ignore[call-arg]
