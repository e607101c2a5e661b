"""Where alerts are forwarded to: a Graylog GELF input, an Elasticsearch/OpenSearch cluster, a syslog server.

Each block also carries the forwarder's filter (minimum severity, sources, categories profile)
and format (a name in `alertmodel.formats.FORMATS`). `alertflow forward` loads every saved
forwarder block and sends each one the alerts stored after its cursor.
"""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import BaseModel, Field, SecretStr, field_validator

from alertmodel.formats import FORMATS


class ForwarderSettings(BaseModel):
    """Settings every forwarder block has: which alerts it sends, in what format, how many at a time."""

    min_severity: int = Field(
        default=0, ge=0, le=3, description="Send alerts of this severity or higher (0 Info .. 3 Critical)."
    )
    sources: list[str] = Field(
        default_factory=list,
        description="Send alerts of these sources only (e.g. suricata, wazuh); empty: all.",
    )
    categories_profile: str | None = Field(
        default=None, description="Send only alerts in this categories profile (alertflow profiles)."
    )
    format: str = Field(default="alertflex", description="Document format: " + ", ".join(FORMATS) + ".")
    backfill: bool = Field(
        default=False,
        description="On the first run, send the alerts stored before this forwarder existed too "
        "(off: start with the newest stored alert).",
    )
    batch_size: int = Field(default=2000, ge=1, le=50_000, description="Alerts read and sent at a time.")
    timeout_s: float = Field(default=10.0, gt=0, description="Seconds to wait for the receiver.")

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(sorted(FORMATS))}, not {value!r}")
        return value


class TlsSettings(BaseModel):
    """TLS settings of a socket forwarder."""

    tls: bool = Field(default=False, description="Connect with TLS.")
    verify_tls: bool = Field(
        default=True, description="Verify the receiver's certificate and name (turn off only for labs)."
    )
    ca_file: str | None = Field(default=None, description="CA bundle (PEM file) to verify the receiver with.")
    client_certificate: str | None = Field(
        default=None, description="Client certificate (PEM text) for receivers that require one."
    )
    client_key: SecretStr | None = Field(
        default=None, description="Private key (PEM text) of the client certificate."
    )


class GelfForwarder(Block, ForwarderSettings, TlsSettings):
    """A Graylog GELF input: UDP (chunked, zlib-compressed) or TCP (null-delimited, optionally TLS)."""

    _block_type_name = "alertflow GELF Forwarder"
    _description = "Forward alerts to a Graylog GELF UDP or TCP input."

    host: str = Field(description="Graylog host name or IP address.")
    port: int = Field(default=12201, ge=1, le=65535, description="GELF input port.")
    protocol: Literal["udp", "tcp"] = Field(default="tcp", description="GELF input transport.")
    udp_chunk_size: int = Field(
        default=8154, ge=512, le=65000, description="Largest UDP datagram; bigger messages are chunked."
    )


class ElasticsearchForwarder(Block, ForwarderSettings):
    """An Elasticsearch or OpenSearch cluster, written to with `_bulk` through the official client."""

    _block_type_name = "alertflow Elasticsearch Forwarder"
    _description = (
        "Forward alerts to Elasticsearch or OpenSearch with _bulk; the alert uuid is the document id."
    )

    flavor: Literal["elasticsearch", "opensearch"] = Field(
        default="elasticsearch", description="Which product (and official client) the cluster is."
    )
    url: str = Field(description="Base URL of the cluster, e.g. https://es.example.org:9200.")
    index: str = Field(default="alertflow-alerts", description="Index (or data stream alias) to write to.")
    username: str | None = Field(default=None, description="User for HTTP basic authentication.")
    password: SecretStr | None = Field(default=None, description="Password of `username`.")
    api_key: SecretStr | None = Field(
        default=None, description="API key (the base64 'id:key' form); used instead of a password."
    )
    verify_tls: bool = Field(default=True, description="Verify the cluster's TLS certificate.")
    ca_file: str | None = Field(default=None, description="CA bundle (PEM file) to verify the cluster with.")

    @field_validator("url")
    @classmethod
    def _no_credentials_in_url(cls, value: str) -> str:
        if "@" in value.split("://", 1)[-1].split("/", 1)[0]:
            raise ValueError("url must not hold credentials; set username and password (or api_key) instead")
        return value

    @field_validator("index")
    @classmethod
    def _index_name(cls, value: str) -> str:
        if not value or value != value.lower() or any(ch in value for ch in ' "*\\<|,>/?#:'):
            raise ValueError(
                'index must be a lowercase Elasticsearch index name without spaces or \\/*?"<>|,#:'
            )
        return value


class SyslogForwarder(Block, ForwarderSettings, TlsSettings):
    """A syslog server taking RFC 5424 messages over TCP or TLS (octet-counting framing, RFC 6587/5425)."""

    _block_type_name = "alertflow Syslog Forwarder"
    _description = "Forward alerts as RFC 5424 syslog messages over TCP or TLS."

    host: str = Field(description="Syslog server host name or IP address.")
    port: int = Field(default=6514, ge=1, le=65535, description="TCP (often 514/601) or TLS (6514) port.")
    facility: int = Field(default=4, ge=0, le=23, description="Syslog facility number (4: security/auth).")
    app_name: str = Field(default="alertflow", max_length=48, description="APP-NAME of every message.")
    hostname: str | None = Field(default=None, description="HOSTNAME of every message (default: this host).")

    @field_validator("app_name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value or any(not 33 <= ord(ch) <= 126 for ch in value):
            raise ValueError("app_name must be printable ASCII without spaces")
        return value


Forwarder = GelfForwarder | ElasticsearchForwarder | SyslogForwarder
FORWARDER_TYPES: tuple[type[Block], ...] = (GelfForwarder, ElasticsearchForwarder, SyslogForwarder)
"""Every forwarder block type, in the order `alertflow forward` lists them."""
