"""Every block type alertflow defines (discovered, so new modules are covered) meets the same bar."""

from __future__ import annotations

import enum
import logging
import re
import types
import typing
import uuid
from typing import Any

import pytest
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from pydantic import SecretStr

from alertflow.cli.blocks import block_types

SECRET_NAME = re.compile(r"password|passphrase|secret|token|private_key|api_key|apikey|auth_string")
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINfa6aH4WDCpnE6M9znRY+pvw3vHaDadFE4cRPS5/MNS"

# Values a block's validators need that a generic example cannot guess.
EXAMPLES: dict[str, dict[str, Any]] = {
    "HostProfile": {"known_host_keys": [HOST_KEY], "file_roots": ["/srv/playbooks"]},
    "IdsSensor": {"kind": "suricata", "rules_path": "/etc/suricata/rules/alertflow.rules"},
    "SmtpServer": {"smtp_server": "127.0.0.1", "smtp_type": "STARTTLS", "username": "soc"},
}
BLOCK_TYPES = block_types()


def _secret(block_type: type, field: str) -> str:
    return f"s3cret-{block_type.__name__}-{field}-{uuid.uuid4().hex[:8]}"


def _options(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _is_secret(annotation: Any) -> bool:
    return any(option is SecretStr for option in _options(annotation))


def _value(block_type: type, name: str, annotation: Any, secrets: list[str]) -> Any:
    if _is_secret(annotation):
        secrets.append(_secret(block_type, name))
        return secrets[-1]
    for option in _options(annotation):
        if isinstance(option, type) and issubclass(option, Block):
            return example(option, secrets)
    option = _options(annotation)[0]
    origin = typing.get_origin(option)
    if origin is typing.Literal:
        return typing.get_args(option)[0]
    if origin in (list, tuple, set):
        return []
    if origin is dict:
        return {}
    if isinstance(option, type) and issubclass(option, enum.Enum):
        return next(iter(option))
    if option is bool:
        return True
    if option in (int, float):
        return 1
    if "url" in name:
        return "https://127.0.0.1:8443/api"
    return f"example-{name}"


def example(block_type: type[Block], secrets: list[str]) -> Block:
    """An instance with every secret field set (to a value recorded in `secrets`)."""
    values = dict(EXAMPLES.get(block_type.__name__, {}))
    for name, info in block_type.model_fields.items():
        if name in values:
            continue
        if info.is_required() or _is_secret(info.annotation) or SECRET_NAME.search(name):
            values[name] = _value(block_type, name, info.annotation, secrets)
    return block_type(**values)


def _secret_fields(block_type: type[Block]) -> list[str]:
    return [n for n, i in block_type.model_fields.items() if SECRET_NAME.search(n) and i.annotation]


def test_blocks_are_discovered_from_the_blocks_package() -> None:
    names = {t.__name__ for t in BLOCK_TYPES}
    assert {"CredentialProfile", "HostProfile", "SmtpServer", "IdsSensor"} <= names


@pytest.mark.parametrize("block_type", BLOCK_TYPES, ids=lambda t: t.__name__)
def test_secret_looking_fields_are_secret_strings(block_type: type[Block]) -> None:
    for name in _secret_fields(block_type):
        annotation = block_type.model_fields[name].annotation
        assert _is_secret(annotation), f"{block_type.__name__}.{name} must be SecretStr, is {annotation}"


@pytest.mark.parametrize("block_type", BLOCK_TYPES, ids=lambda t: t.__name__)
def test_every_field_and_the_block_have_descriptions(block_type: type[Block]) -> None:
    assert block_type.__doc__ and block_type.__doc__.strip()
    missing = [n for n, i in block_type.model_fields.items() if not (i.description or "").strip()]
    assert missing == [], f"{block_type.__name__} fields without a description: {missing}"


@pytest.mark.parametrize("block_type", BLOCK_TYPES, ids=lambda t: t.__name__)
def test_secrets_never_show_in_repr_str_dumps_or_logs(
    block_type: type[Block], caplog: pytest.LogCaptureFixture
) -> None:
    secrets: list[str] = []
    block = example(block_type, secrets)
    assert secrets, f"{block_type.__name__} example has no secret to check"
    with caplog.at_level(logging.INFO):
        logging.getLogger("alertflow.test").info("block %s %r %s", block, block, block.model_dump())
    shown = [
        repr(block),
        str(block),
        str(block.model_dump()),
        block.model_dump_json(),
        caplog.text,
    ]
    for secret in secrets:
        for text in shown:
            assert secret not in text


@pytest.mark.parametrize("block_type", BLOCK_TYPES, ids=lambda t: t.__name__)
async def test_blocks_round_trip_through_the_prefect_server_with_secrets_masked_in_the_api(
    block_type: type[Block], prefect_server: Any
) -> None:
    secrets: list[str] = []
    block = example(block_type, secrets)
    name = f"standards-{block_type.__name__.lower()}-{uuid.uuid4().hex[:6]}"
    await block.asave(name, overwrite=True)
    loaded = await block_type.aload(name)
    assert type(loaded) is block_type
    assert loaded.model_dump_json() == block.model_dump_json()

    def unwrap(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {k: unwrap(v) for k, v in value.items()}
        return value

    assert unwrap(loaded.model_dump()) == unwrap(block.model_dump())
    async with get_client() as client:
        document = await client.read_block_document_by_name(
            name, block_type.get_block_type_slug(), include_secrets=False
        )
    for secret in secrets:
        assert secret not in str(document.data)
