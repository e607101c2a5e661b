"""A dispatcher that dies between creating a flow run and marking its outbox row done.

`python -m tests.integration.response.crashing_dispatch DB_URL MARKER`: the real dispatcher
and executors, except that after the playbook executor returns it writes MARKER and hangs,
so the test can SIGKILL it at exactly that point.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from prefect.client.orchestration import get_client

from alertmodel.engine import make_engine
from response.dispatcher import Dispatcher, DispatcherConfig
from response.executors import default_executors
from response.payload import OutboxItem


async def main(url: str, marker: Path) -> None:
    engine = make_engine(url)
    async with get_client() as client:
        executors = default_executors(engine, client)
        playbook = executors["playbook"]

        async def create_then_hang(item: OutboxItem) -> None:
            await playbook(item)
            marker.write_text(item.key)
            await asyncio.Event().wait()

        executors["playbook"] = create_then_hang
        await Dispatcher(engine, executors, DispatcherConfig(lease_s=5)).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
