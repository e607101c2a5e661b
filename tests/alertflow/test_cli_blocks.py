"""`alertflow blocks register` makes every discovered block type known to a real Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from prefect.client.orchestration import get_client

from alertflow.cli.blocks import block_types


async def test_blocks_register_registers_every_block_type_with_the_server(prefect_server: Any) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "alertflow", "blocks", "register"],
        env={**os.environ, **prefect_server.client_env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    async with get_client() as client:
        for block_type in block_types():
            slug = block_type.get_block_type_slug()
            assert f"registered {slug}" in proc.stdout
            server_type = await client.read_block_type_by_slug(slug)
            assert server_type.name == block_type.get_block_type_name()
            schema = await client.get_most_recent_block_schema_for_block_type(server_type.id)
            assert schema is not None, f"no schema registered for {slug}"
            assert set(block_type.model_fields) <= set(schema.fields["properties"])
