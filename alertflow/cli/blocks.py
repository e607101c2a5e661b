"""`alertflow blocks …`: make the project's block types known to the Prefect server."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import TYPE_CHECKING

import anyio
import typer

from alertflow.cli.common import prefect_server

if TYPE_CHECKING:  # importing Prefect costs ~40 MB: commands that do not need it (ingest) skip it
    from prefect.blocks.core import Block

app = typer.Typer(help="Prefect block types of alertflow.", no_args_is_help=True)


def block_types() -> list[type[Block]]:
    """Every Block subclass defined in a module of the `blocks` package, by module then class name."""
    from prefect.blocks.core import Block

    import blocks as blocks_package

    found: list[type[Block]] = []
    for info in sorted(pkgutil.iter_modules(blocks_package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{blocks_package.__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Block) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


async def register_all() -> list[type[Block]]:
    """Register every block type (and its schema) with the Prefect API in PREFECT_API_URL."""
    types = block_types()
    for block_type in types:
        await block_type.aregister_type_and_schema()
    return types


@app.command("register")
def register() -> None:
    """Register every alertflow block type with `alertflow up`'s Prefect server (or PREFECT_API_URL's)."""
    with prefect_server():
        registered = anyio.run(register_all)
    for block_type in registered:
        typer.echo(
            f"registered {block_type.get_block_type_slug()} ({block_type.__module__}.{block_type.__name__})"
        )


@app.command("list")
def list_types() -> None:
    """List the block types alertflow defines."""
    for block_type in block_types():
        typer.echo(f"{block_type.get_block_type_slug()}\t{block_type.__module__}.{block_type.__name__}")
