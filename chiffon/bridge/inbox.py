"""The inbox port: which envelope ids a consumer has already processed.

The orchestrator passes its ``PostgresJournal`` (the ``inbox`` table); an agent, which has no
database, a ``SqliteInbox`` in its state directory; tests and benchmarks a ``MemoryInbox``.
Ids are recorded after delivery and before the ack, so a crash in between delivers the
envelope again (at least once) and never loses it; handlers are idempotent.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class Inbox(Protocol):
    async def processed_among(self, consumer: str, message_ids: Sequence[int]) -> set[int]:
        """The ids among ``message_ids`` already recorded for ``consumer``."""
        ...

    async def mark_processed_many(self, consumer: str, message_ids: Sequence[int]) -> None:
        """Record ``message_ids`` as processed by ``consumer``."""
        ...


class MemoryInbox:
    """An inbox that lives as long as the process."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, int]] = set()

    async def processed_among(self, consumer: str, message_ids: Sequence[int]) -> set[int]:
        return {i for i in message_ids if (consumer, i) in self._seen}

    async def mark_processed_many(self, consumer: str, message_ids: Sequence[int]) -> None:
        self._seen.update((consumer, i) for i in message_ids)


class SqliteInbox:
    """An inbox in a SQLite file: an agent's, surviving its restarts. Ids older than
    ``keep`` entries are pruned, enough for any redelivery the broker can make."""

    def __init__(self, path: Path, *, keep: int = 100_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS inbox (consumer TEXT, id TEXT, seq INTEGER PRIMARY KEY,"
            " UNIQUE (consumer, id))"
        )

    def _among(self, consumer: str, ids: Sequence[int]) -> set[int]:
        with self._lock:
            found: set[int] = set()
            for i in ids:
                row = self._db.execute(
                    "SELECT 1 FROM inbox WHERE consumer = ? AND id = ?", (consumer, f"{i:032x}")
                ).fetchone()
                if row:
                    found.add(i)
            return found

    def _mark(self, consumer: str, ids: Sequence[int]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO inbox (consumer, id) VALUES (?, ?)",
                [(consumer, f"{i:032x}") for i in ids],
            )
            self._db.execute(
                "DELETE FROM inbox WHERE seq <= (SELECT max(seq) FROM inbox) - ?", (self.keep,)
            )
            self._db.execute("COMMIT")

    async def processed_among(self, consumer: str, message_ids: Sequence[int]) -> set[int]:
        return await asyncio.to_thread(self._among, consumer, message_ids)

    async def mark_processed_many(self, consumer: str, message_ids: Sequence[int]) -> None:
        await asyncio.to_thread(self._mark, consumer, message_ids)

    def close(self) -> None:
        with self._lock:
            self._db.close()
