"""Run by test_crash.py: sync-durability sends through ``chiffon.System`` until killed.

Usage: python send_child.py DSN HOME. Each line is a message's token, printed (and flushed)
only after ``await ref.tell(...)`` returned: a promise that the message is committed.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import anyio

import chiffon
from chiffon import Actor, Durability, handler


@dataclasses.dataclass(frozen=True, slots=True)
class Deploy:
    kind = "crash.deploy"
    durability = Durability.SYNC
    token: str


class Sink(Actor):
    @handler
    def deploy(self, message: Deploy) -> None:
        pass


async def main(dsn: str, home: str) -> None:
    settings = chiffon.Settings(database_url=dsn, home=Path(home), log_level="warning")
    async with chiffon.System(settings) as system:
        sink = await system.spawn(Sink)

        async def sender(n: int) -> None:
            i = 0
            while True:
                token = f"{n}-{i}"
                await sink.tell(Deploy(token))
                sys.stdout.write(f"{token}\n")
                sys.stdout.flush()
                i += 1

        async with anyio.create_task_group() as group:
            for n in range(32):
                group.start_soon(sender, n)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
