"""One batch's transaction: COPY of the messages, transitions, and what to do on a conflict.

The fast path is a single binary COPY into ``messages`` (with the transitions inserted first,
in the same transaction, when there are any). Only when that meets a duplicate does the batch
go through the exact path: transitions resolved record by record in append order, messages
COPYed through a temporary table and kept where their id is new.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from chiffon.actors.errors import DuplicateTransition
from chiffon.journal.rows import MESSAGE_COLUMNS, Row

if TYPE_CHECKING:
    from chiffon.journal.writer import Batch


_INSERT_TRANSITIONS = (
    "INSERT INTO transitions (entity_kind, entity_id, seq, from_state, to_state, reason,"
    " message_id, at) SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[],"
    " $5::text[], $6::text[], $7::uuid[], $8::timestamptz[]) ON CONFLICT DO NOTHING"
)
_EXISTING_TRANSITIONS = (
    "SELECT t.entity_kind, t.entity_id, t.seq FROM transitions t JOIN"
    " unnest($1::text[], $2::text[], $3::int8[]) AS k(entity_kind, entity_id, seq)"
    " USING (entity_kind, entity_id, seq)"
)


class _Conflict(Exception):
    """Internal: the fast path met a duplicate; redo the batch on the exact path."""


async def write_batch(conn: Any, batch: Batch) -> None:
    """Commit ``batch`` on ``conn``; fills ``batch.rejected`` for duplicate transitions."""
    if not batch.transition_rows:
        rows = batch.sync_rows + batch.async_rows
        try:
            await conn.copy_records_to_table("messages", records=rows, columns=MESSAGE_COLUMNS)
        except asyncpg.UniqueViolationError:
            async with conn.transaction():
                await _copy_deduplicated(conn, rows)
        return
    # Sorted so that two batches racing on the same keys lock them in the same order.
    transitions = sorted(batch.transition_rows, key=_transition_key)
    try:
        async with conn.transaction():
            _check_all_inserted(await _insert_transitions(conn, transitions), len(transitions))
            rows = batch.sync_rows + batch.async_rows
            await conn.copy_records_to_table("messages", records=rows, columns=MESSAGE_COLUMNS)
    except (_Conflict, asyncpg.UniqueViolationError):
        pass
    else:
        return
    async with conn.transaction():
        rejected = await _insert_transitions_exactly(conn, batch)
        kept = [row for i, row in enumerate(batch.sync_rows) if i not in rejected]
        await _copy_deduplicated(conn, kept + batch.async_rows)
    for index, (kind, entity, seq) in rejected.items():
        batch.rejected[index] = DuplicateTransition(kind, entity, seq)


def _check_all_inserted(inserted: int, expected: int) -> None:
    if inserted != expected:
        raise _Conflict


def _transition_key(row: Row) -> tuple[str, str, int]:
    return (row[0], row[1], row[2])


async def _insert_transitions(conn: Any, rows: Sequence[Row]) -> int:
    status: str = await conn.execute(_INSERT_TRANSITIONS, *map(list, zip(*rows, strict=True)))
    return int(status.rsplit(" ", 1)[1])


async def _insert_transitions_exactly(conn: Any, batch: Batch) -> dict[int, tuple[str, str, int]]:
    """Insert the transitions of every record none of whose keys is taken, in append order.

    Returns the rejected sync indices with the key that was taken. Another process may take a
    key between our look-up and our insert; the savepoint lets us look again.
    """
    by_owner: dict[int, list[Row]] = {}
    for owner, row in zip(batch.owners, batch.transition_rows, strict=True):
        by_owner.setdefault(owner, []).append(row)
    keys = [_transition_key(r) for r in batch.transition_rows]
    while True:
        found = await conn.fetch(_EXISTING_TRANSITIONS, *map(list, zip(*keys, strict=True)))
        claimed = {(r[0], r[1], r[2]) for r in found}
        rejected: dict[int, tuple[str, str, int]] = {}
        kept: list[Row] = []
        for owner, rows in by_owner.items():
            own = [_transition_key(r) for r in rows]
            taken = next((k for k in own if k in claimed), None)
            if taken is None and len(set(own)) < len(own):
                taken = own[0]
            if taken is not None:
                rejected[owner] = taken
                continue
            claimed.update(own)
            kept.extend(rows)
        if not kept:
            return rejected
        try:
            async with conn.transaction():
                kept.sort(key=_transition_key)
                _check_all_inserted(await _insert_transitions(conn, kept), len(kept))
        except _Conflict:
            continue
        return rejected


async def _copy_deduplicated(conn: Any, rows: Sequence[Row]) -> None:
    """COPY into a temporary table, then keep only ids ``messages`` does not hold yet."""
    if not rows:
        return
    await conn.execute("CREATE TEMPORARY TABLE incoming_messages (LIKE messages) ON COMMIT DROP")
    await conn.copy_records_to_table("incoming_messages", records=rows, columns=MESSAGE_COLUMNS)
    await conn.execute(
        "INSERT INTO messages SELECT * FROM incoming_messages ON CONFLICT (id) DO NOTHING"
    )
