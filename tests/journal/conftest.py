"""The journals under test: the in-memory one and PostgresJournal on both servers.

``open_journal`` is a factory rather than a journal because a PostgresJournal owns a task
group, which must be entered and left by the same task: the test's, not a fixture's.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from chiffon.actors.journal import InMemoryJournal, Journal
from chiffon.journal.postgres import PostgresJournal, create_pool

OpenJournal = Callable[[], AbstractAsyncContextManager[Journal]]


@pytest.fixture(params=["memory", "embedded", "machine"])
def open_journal(request: pytest.FixtureRequest) -> OpenJournal:
    """``async with open_journal() as journal``: a fresh journal of each implementation."""
    kind = request.param
    dsn = None if kind == "memory" else str(request.getfixturevalue(f"{kind}_dsn"))

    @asynccontextmanager
    async def opened() -> AsyncIterator[Journal]:
        if dsn is None:
            memory = InMemoryJournal()
            try:
                yield memory
            finally:
                await memory.aclose()
            return
        pool = await create_pool(dsn, size=4)
        try:
            async with PostgresJournal(pool, batch_size=64, flush_delay=0.001) as postgres:
                yield postgres
        finally:
            await pool.close()

    return opened


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A directory for an embedded server of the test's own: not under pytest's base
    directory, which another pytest session on the machine may delete as an old one while
    this test's server still runs from it."""
    with tempfile.TemporaryDirectory(prefix="chiffon-test-pg-", ignore_cleanup_errors=True) as d:
        yield Path(d)
