"""Opening a store on the session's database for the orchestrator's tests.

A helper rather than an async fixture: the store runs a task group, which must be entered
and left by the same task (pytest-asyncio sets fixtures up and tears them down in different
tasks).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from chiffon.journal import open_store
from chiffon.journal.store import Store


@asynccontextmanager
async def opened(dsn: str, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(
        dsn, tmp_path, pool_size=2, batch_size=64, flush_delay_s=0.001, auto_upgrade=False
    ) as store:
        yield store
