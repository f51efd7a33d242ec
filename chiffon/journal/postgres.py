"""The asyncpg adapter of the ``Journal`` port: ``PostgresJournal``, and the pool it uses.

``PostgresDatabase`` (the ``Database`` port) lives in ``chiffon.journal.database``, apart,
because it needs SQLAlchemy, whose import costs more than half a second that commands which
only touch the journal or the schema version should not pay.

Ownership: both borrow an ``asyncpg`` pool made by ``create_pool`` and never close it; the
caller that made the pool (``chiffon.journal.open_store``) closes it after them. The journal
owns its group-commit writer task, started by ``async with`` and stopped by ``aclose``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeAlias

import anyio
import asyncpg
from anyio.abc import TaskGroup

from chiffon.actors.envelope import Envelope
from chiffon.actors.errors import JournalClosed, JournalUnavailable, UnencodableBody
from chiffon.actors.journal import StoredMessage, Transition, encode_body
from chiffon.journal.errors import DATABASE_UNAVAILABLE, describe
from chiffon.journal.rows import message_row, transition_row, uuid_text
from chiffon.journal.writer import (
    GroupCommitWriter,
    WriterStatistics,
)

if TYPE_CHECKING:
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:
    Pool = asyncpg.Pool

# PostgreSQL's jsonb refuses the NUL character; catch it at the send, not in a failed batch.
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


async def create_pool(dsn: str, *, size: int, timeout: float = 10.0) -> Pool:
    """A pool of at most ``size`` connections (one opened now, the rest on demand).

    Raises what asyncpg raises when the server cannot be reached; ``open_store`` turns that
    into a ``ConfigError`` sentence.
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        timeout=timeout,
        command_timeout=60.0,
        max_inactive_connection_lifetime=60.0,
        server_settings={"application_name": "chiffon", "jit": "off"},
    )
    assert pool is not None  # create_pool returns None only when not awaited
    return pool


class PostgresJournal:
    """The ``Journal`` port over PostgreSQL, with group commit. Use ``async with``.

    ``batch_size``, ``flush_delay`` (seconds) and ``pipeline`` (batches committing at once,
    each on its own pooled connection) tune the writer; see ``chiffon.journal.writer``.
    """

    def __init__(
        self,
        pool: Pool,
        *,
        batch_size: int = 512,
        flush_delay: float = 0.002,
        pipeline: int = 2,
        max_pending: int = 100_000,
        op_timeout: float = 5.0,
    ) -> None:
        self._pool = pool
        self._op_timeout = op_timeout
        self._writer = GroupCommitWriter(
            pool,
            batch_size=batch_size,
            flush_delay=flush_delay,
            pipeline=max(1, min(pipeline, pool.get_max_size())),
            max_pending=max_pending,
            op_timeout=op_timeout,
        )
        self._task_group: TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop  # the writer's, set on entry
        self._open = False
        self._closed = False

    async def __aenter__(self) -> Self:
        if self._task_group is not None or self._closed:
            raise RuntimeError("a PostgresJournal can be entered once")
        self._loop = asyncio.get_running_loop()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        await task_group.start(self._writer.run)
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        try:
            with anyio.CancelScope(shield=True):
                await self.aclose()
        finally:
            # The body's own exception is not the writer's: handing it to the task group would
            # come back wrapped in an ExceptionGroup, and callers' `except RunNotFound` would
            # miss it. Cancellation is the task group's business, so it still goes there.
            if exc is None or isinstance(exc, anyio.get_cancelled_exc_class()):
                result = await self._task_group.__aexit__(exc_type, exc, tb)
            else:
                result = await self._task_group.__aexit__(None, None, None)
        return result

    def _check_open(self) -> None:
        if not self._open:
            if self._closed:
                raise JournalClosed()
            raise RuntimeError("use `async with PostgresJournal(pool) as journal:`")

    @staticmethod
    def _encode(envelope: Envelope) -> str:
        text = encode_body(envelope.kind, envelope.body)
        if "\\u0000" in text and _NUL.search(text):
            raise UnencodableBody(envelope.kind, "PostgreSQL cannot store the NUL character")
        return text

    async def append(self, envelope: Envelope, transitions: Sequence[Transition] = ()) -> None:
        """Record an envelope and the transitions it caused; return once committed.

        A transition without a ``message_id`` is recorded as caused by ``envelope``.
        Raises ``UnencodableBody`` before anything is queued; ``JournalUnavailable`` when the
        commit failed or could not be confirmed (re-sending the same envelope is safe: ids are
        de-duplicated); ``DuplicateTransition`` (and the envelope is not stored);
        ``JournalClosed``.
        """
        if not self._open:
            self._check_open()
        text = encode_body(envelope.kind, envelope.body)
        if "\\u0000" in text and _NUL.search(text):
            raise UnencodableBody(envelope.kind, "PostgreSQL cannot store the NUL character")
        writer = self._writer
        if writer.saturated:
            await writer.wait_for_space()
        # One future per sender, resolved by the commit with this record's own outcome.
        waiter: asyncio.Future[None] = self._loop.create_future()
        if transitions:
            message_id = envelope.id
            rows = [transition_row(t, message_id) for t in transitions]
            writer.put_sync(message_row(envelope, text), waiter, rows)
        else:
            writer.put_sync(message_row(envelope, text), waiter)
        await waiter

    def append_nowait(self, envelope: Envelope) -> None:
        """Queue an envelope to be committed in the background.

        Raises ``UnencodableBody`` at once; ``JournalClosed`` after ``aclose``.
        """
        self._check_open()
        self._writer.put_async(message_row(envelope, self._encode(envelope)))

    async def flush(self) -> None:
        """Return once everything queued before the call is committed (or has failed).

        Raises ``JournalClosed`` after ``aclose``.
        """
        self._check_open()
        await self._writer.flush()

    async def mark_processed(self, consumer: str, message_id: int) -> bool:
        """Record that ``consumer`` processed ``message_id``; ``False`` if it already had.

        Committed on return. Raises ``JournalUnavailable``; ``JournalClosed``.
        """
        self._check_open()
        status = await self._call(
            self._pool.execute,
            "INSERT INTO inbox (consumer, message_id, processed_at) VALUES ($1, $2, now())"
            " ON CONFLICT DO NOTHING",
            consumer,
            uuid_text(message_id),
        )
        return bool(status == "INSERT 0 1")

    async def processed_among(self, consumer: str, message_ids: Sequence[int]) -> set[int]:
        """Which of ``message_ids`` ``consumer`` has recorded as processed (the bridge's
        inbox: one query per AMQP message, however many envelopes it carries).
        Raises ``JournalUnavailable``; ``JournalClosed``."""
        self._check_open()
        rows = await self._call(
            self._pool.fetch,
            "SELECT message_id FROM inbox WHERE consumer = $1 AND message_id = ANY($2::uuid[])",
            consumer,
            [uuid_text(i) for i in message_ids],
        )
        return {row["message_id"].int for row in rows}

    async def mark_processed_many(self, consumer: str, message_ids: Sequence[int]) -> None:
        """Record ``message_ids`` as processed by ``consumer`` in one statement; ids already
        recorded are left as they are. Raises ``JournalUnavailable``; ``JournalClosed``."""
        self._check_open()
        await self._call(
            self._pool.execute,
            "INSERT INTO inbox (consumer, message_id, processed_at)"
            " SELECT $1, id, now() FROM unnest($2::uuid[]) AS id ON CONFLICT DO NOTHING",
            consumer,
            [uuid_text(i) for i in message_ids],
        )

    async def message(self, message_id: int) -> StoredMessage | None:
        """A committed message by id, or ``None``. Raises ``JournalUnavailable``."""
        row = await self._call(
            self._pool.fetchrow,
            "SELECT id, kind, sender, recipient, correlation_id, causation_id, created_at, body"
            " FROM messages WHERE id = $1",
            uuid_text(message_id),
        )
        if row is None:
            return None
        return StoredMessage(
            id=row["id"].int,
            kind=row["kind"],
            sender=row["sender"],
            recipient=row["recipient"],
            correlation_id=_int_or_none(row["correlation_id"]),
            causation_id=_int_or_none(row["causation_id"]),
            created_at=row["created_at"].timestamp(),
            body=json.loads(row["body"]),
        )

    async def transitions(self, entity_kind: str, entity_id: str) -> list[Transition]:
        """Every committed transition of one entity, in sequence order.

        Raises ``JournalUnavailable``.
        """
        rows = await self._call(
            self._pool.fetch,
            "SELECT seq, from_state, to_state, reason, message_id, at FROM transitions"
            " WHERE entity_kind = $1 AND entity_id = $2 ORDER BY seq",
            entity_kind,
            entity_id,
        )
        return [
            Transition(
                entity_kind=entity_kind,
                entity_id=entity_id,
                seq=r["seq"],
                from_state=r["from_state"],
                to_state=r["to_state"],
                reason=r["reason"],
                message_id=_int_or_none(r["message_id"]),
                at=r["at"].timestamp(),
            )
            for r in rows
        ]

    def statistics(self) -> WriterStatistics:
        """The group-commit writer's counters (batches committed, records, failures…)."""
        return self._writer.statistics()

    async def aclose(self) -> None:
        """Commit what is queued, then stop the writer. Idempotent; the pool stays open."""
        if self._closed:
            return
        self._closed = True
        self._open = False
        if self._task_group is not None:
            await self._writer.close()

    async def _call(self, method: Callable[..., Any], query: str, *args: Any) -> Any:
        try:
            with anyio.fail_after(self._op_timeout):
                return await method(query, *args)
        except DATABASE_UNAVAILABLE as exc:
            raise JournalUnavailable(describe(exc)) from exc


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value.int)
