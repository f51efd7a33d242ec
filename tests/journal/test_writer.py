"""Group commit on a real server: batching, flush by delay, redeliveries, racing transitions."""

from __future__ import annotations

import datetime as dt
import uuid

import anyio
import asyncpg
import pytest

from chiffon.actors.envelope import Envelope, new_id
from chiffon.actors.errors import DuplicateTransition, UnencodableBody
from chiffon.actors.journal import Transition
from chiffon.journal import writer
from chiffon.journal.postgres import PostgresJournal, create_pool


def envelope(kind: str = "ping", body: object = None) -> Envelope:
    return Envelope(new_id(), kind, {"n": 1} if body is None else body, "test/recipient")


async def transactions_that_wrote(dsn: str, ids: list[int]) -> int:
    """How many distinct transactions wrote these messages, as PostgreSQL itself tells."""
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(DISTINCT xmin::text) FROM messages WHERE id = ANY($1::uuid[])",
                [uuid.UUID(int=i) for i in ids],
            )
        )
    finally:
        await connection.close()


async def test_many_concurrent_sync_appends_commit_in_far_fewer_transactions(
    pg_dsn: str,
) -> None:
    pool = await create_pool(pg_dsn, size=4)
    sent = [envelope() for _ in range(2000)]
    try:
        async with PostgresJournal(pool, batch_size=256, flush_delay=0.005) as journal:
            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:
                    for item in sent:
                        group.start_soon(journal.append, item)
            statistics = journal.statistics()
    finally:
        await pool.close()
    assert statistics.records == 2000
    assert statistics.batches <= 2000 // 20
    assert await transactions_that_wrote(pg_dsn, [e.id for e in sent]) == statistics.batches


async def test_a_lone_async_record_is_committed_by_the_flush_delay_without_flush(
    pg_dsn: str,
) -> None:
    pool = await create_pool(pg_dsn, size=2)
    item = envelope("heartbeat")
    try:
        async with PostgresJournal(pool, batch_size=512, flush_delay=0.01) as journal:
            journal.append_nowait(item)
            with anyio.fail_after(10):
                # Polling on purpose: nothing but the delay may commit this record.
                while await journal.message(item.id) is None:  # noqa: ASYNC110
                    await anyio.sleep(0.005)
            assert journal.statistics().batches == 1
    finally:
        await pool.close()


async def test_a_redelivered_message_does_not_fail_its_batch(pg_dsn: str) -> None:
    pool = await create_pool(pg_dsn, size=2)
    first = envelope("command", {"v": 1})
    try:
        async with PostgresJournal(pool, batch_size=64, flush_delay=0.005) as journal:
            with anyio.fail_after(10):
                await journal.append(first)
                others = [envelope() for _ in range(10)]
                async with anyio.create_task_group() as group:
                    group.start_soon(journal.append, first)  # the redelivery
                    for item in others:
                        group.start_soon(journal.append, item)
            for item in [first, *others]:
                assert await journal.message(item.id) is not None
            assert journal.statistics().failed_batches == 0
    finally:
        await pool.close()


async def test_duplicate_transitions_in_one_batch_fail_only_the_later_sender(
    pg_dsn: str,
) -> None:
    pool = await create_pool(pg_dsn, size=2)
    run = f"run-{uuid.uuid4().hex[:8]}"
    winner, loser, bystander = envelope("a"), envelope("b"), envelope("c")
    outcomes: dict[str, BaseException | None] = {}

    async def send(name: str, item: Envelope, transitions: list[Transition]) -> None:
        try:
            await journal.append(item, transitions)
        except DuplicateTransition as exc:
            outcomes[name] = exc
        else:
            outcomes[name] = None

    try:
        async with PostgresJournal(pool, batch_size=64, flush_delay=0.02) as journal:
            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    group.start_soon(send, "winner", winner, [Transition("run", run, 1, None, "x")])
                    group.start_soon(send, "loser", loser, [Transition("run", run, 1, None, "y")])
                    group.start_soon(send, "bystander", bystander, [])
            assert journal.statistics().batches == 1
            assert outcomes["winner"] is None
            assert outcomes["bystander"] is None
            assert isinstance(outcomes["loser"], DuplicateTransition)
            assert [t.to_state for t in await journal.transitions("run", run)] == ["x"]
            assert await journal.message(loser.id) is None
            assert await journal.message(bystander.id) is not None
    finally:
        await pool.close()


async def test_a_nul_character_is_refused_at_append_not_by_a_failed_batch(pg_dsn: str) -> None:
    pool = await create_pool(pg_dsn, size=2)
    try:
        async with PostgresJournal(pool) as journal:
            with pytest.raises(UnencodableBody, match=r"body of output\.line .* NUL"):
                await journal.append(envelope("output.line", {"text": "a\x00b"}))
            harmless = envelope("output.line", {"text": "a\\u0000b"})  # a backslash, not NUL
            with anyio.fail_after(10):
                await journal.append(harmless)
            stored = await journal.message(harmless.id)
            assert stored is not None
            assert stored.body == {"text": "a\\u0000b"}
    finally:
        await pool.close()


async def test_connections_go_back_to_the_pool_with_asyncpgs_own_codecs(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "IDLE_RELEASE_S", 0.05)
    pool = await create_pool(pg_dsn, size=3)

    async def every_connection_decodes_datetimes() -> None:
        held = [await pool.acquire() for _ in range(pool.get_max_size())]
        try:
            for connection in held:
                assert isinstance(await connection.fetchval("SELECT now()"), dt.datetime)
        finally:
            for connection in held:
                await pool.release(connection)

    try:
        async with PostgresJournal(pool, flush_delay=0.001) as journal:
            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    for _ in range(50):
                        group.start_soon(journal.append, envelope())
                await anyio.sleep(0.3)  # idle: the writer hands its connections back
                await every_connection_decodes_datetimes()
                await journal.append(envelope())  # and takes them again
        with anyio.fail_after(10):
            await every_connection_decodes_datetimes()
    finally:
        await pool.close()


def test_the_row_format_is_what_asyncpg_copies_with_the_row_codecs(machine_dsn: str) -> None:
    from chiffon.journal.rows import (
        MESSAGE_COLUMNS,
        drop_row_codecs,
        message_row,
        use_row_codecs,
    )
    from tests.conftest import run_async

    item = envelope("bench", {"x": [1, 2]})

    async def copy() -> tuple[object, object, object]:
        connection = await asyncpg.connect(machine_dsn)
        try:
            await use_row_codecs(connection)
            row = message_row(item, '{"x":[1,2]}')
            await connection.copy_records_to_table(
                "messages", records=[row], columns=MESSAGE_COLUMNS
            )
            await drop_row_codecs(connection)
            stored = await connection.fetchrow(
                "SELECT body->'x', created_at, recipient FROM messages WHERE id = $1", item.uuid
            )
            assert stored is not None
            return tuple(stored)
        finally:
            await connection.close()

    body, created_at, recipient = run_async(copy)
    assert body == "[1, 2]"
    assert isinstance(created_at, dt.datetime)
    assert created_at.timestamp() == item.created_at
    assert recipient == "test/recipient"
