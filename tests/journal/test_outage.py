"""The database goes away mid-run and comes back: sync appends fail loudly, async ones wait,
and the same journal object works again once the server is back."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from chiffon.actors.envelope import Envelope, new_id
from chiffon.actors.errors import JournalUnavailable
from chiffon.journal import migrate
from chiffon.journal.embedded import EmbeddedServer
from chiffon.journal.postgres import PostgresJournal, create_pool
from tests.journal.test_embedded import pg_ctl, restart_behind_its_back

pytestmark = pytest.mark.slow


def envelope() -> Envelope:
    return Envelope(new_id(), "command", {"n": 1}, "test/recipient")


async def test_sync_appends_fail_while_the_server_is_down_and_succeed_once_it_is_back(
    server_dir: Path,
) -> None:
    server = await EmbeddedServer.start(server_dir / "pgdata")
    try:
        await migrate.upgrade(server.dsn)
        pool = await create_pool(server.dsn, size=4)
        try:
            async with PostgresJournal(pool, flush_delay=0.001, op_timeout=3.0) as journal:
                with anyio.fail_after(10):
                    await journal.append(envelope())

                await anyio.to_thread.run_sync(pg_ctl, server, "-m", "immediate", "stop")
                for _ in range(3):
                    with anyio.fail_after(15), pytest.raises(JournalUnavailable):
                        await journal.append(envelope())

                kept = envelope()
                journal.append_nowait(kept)  # async: kept by the writer until it can commit

                await anyio.to_thread.run_sync(restart_behind_its_back, server)
                stored: list[Envelope] = []
                with anyio.fail_after(30):
                    while not stored:
                        item = envelope()
                        try:
                            await journal.append(item)
                        except JournalUnavailable:
                            continue  # recovery is the writer's business; it must come
                        stored.append(item)
                    for _ in range(5):
                        item = envelope()
                        await journal.append(item)
                        stored.append(item)
                    await journal.flush()
                for item in [*stored, kept]:
                    assert await journal.message(item.id) is not None
        finally:
            await pool.close()
    finally:
        await server.release()
