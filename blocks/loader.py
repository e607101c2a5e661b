"""Load a saved block by name, with an error that says which block is missing and how to add it."""

from __future__ import annotations

from typing import TypeVar

from prefect.blocks.core import Block

from alertmodel.errors import IntegrationError

B = TypeVar("B", bound=Block)


async def load_block(block_type: type[B], name: str) -> B:
    """The saved block `name` of `block_type`; IntegrationError naming the product when there is none."""
    try:
        return await block_type.aload(name)  # type: ignore[return-value]
    except ValueError as exc:
        raise IntegrationError(
            f"no {block_type.get_block_type_name()} block {name!r} configured; create it in the Prefect UI "
            "after `alertflow blocks register`"
        ) from exc
