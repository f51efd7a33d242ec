"""Run by test_crash.py: append sync messages forever, printing each id once it is committed.

Usage: python crash_child.py DSN. A line is printed (and flushed) only after ``append``
returned, so every printed id is a promise that the message is stored.
"""

from __future__ import annotations

import sys

import anyio

from chiffon.actors.envelope import Envelope, new_id
from chiffon.journal.postgres import PostgresJournal, create_pool


async def main(dsn: str) -> None:
    pool = await create_pool(dsn, size=4)
    async with PostgresJournal(pool, batch_size=64, flush_delay=0.001) as journal:

        async def sender() -> None:
            while True:
                item = Envelope(new_id(), "crash.test", {"n": 1}, "test/recipient")
                await journal.append(item)
                sys.stdout.write(f"{item.id}\n")
                sys.stdout.flush()

        async with anyio.create_task_group() as group:
            for _ in range(16):
                group.start_soon(sender)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
