"""The Database port over asyncpg: Core statements in, mappings out, transactions."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, insert, select

from chiffon.actors.envelope import new_id
from chiffon.journal.database import PostgresDatabase
from chiffon.journal.postgres import create_pool
from chiffon.journal.schema import inbox, messages


async def test_core_statements_round_trip_with_json_and_uuids(pg_dsn: str) -> None:
    pool = await create_pool(pg_dsn, size=2)
    try:
        database = PostgresDatabase(pool)
        ids = [uuid.UUID(int=new_id()) for _ in range(3)]
        for i, message_id in enumerate(ids):
            await database.execute(
                insert(messages).values(
                    id=message_id,
                    kind="db.test",
                    recipient="r",
                    created_at=func.now(),
                    body={"i": i, "tags": ["a", "b"]},
                )
            )
        rows = await database.fetch(
            select(messages.c.id, messages.c.body)
            .where(messages.c.id.in_(ids[:2]))
            .order_by(messages.c.id)
        )
        assert [(r["id"], r["body"]["i"]) for r in rows] == [(ids[0], 0), (ids[1], 1)]
        one = await database.fetch_one(select(messages.c.body).where(messages.c.id == ids[2]))
        assert one is not None
        assert one["body"] == {"i": 2, "tags": ["a", "b"]}
        for i, message_id in enumerate(ids):  # one shape, compiled once, fresh parameters
            row = await database.fetch_one(
                select(messages.c.body).where(messages.c.id == message_id)
            )
            assert row is not None
            assert row["body"]["i"] == i
        with pytest.raises(TypeError):
            one["body"] = None  # type: ignore[index]
        assert (
            await database.fetch_one(select(messages).where(messages.c.id == uuid.uuid4())) is None
        )
    finally:
        await pool.close()


async def test_a_failed_transaction_commits_nothing(pg_dsn: str) -> None:
    pool = await create_pool(pg_dsn, size=2)
    consumer = f"consumer-{uuid.uuid4().hex[:8]}"
    try:
        database = PostgresDatabase(pool)

        async def insert_then_fail() -> None:
            async with database.transaction() as tx:
                await tx.execute(
                    insert(inbox).values(
                        consumer=consumer, message_id=uuid.uuid4(), processed_at=func.now()
                    )
                )
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await insert_then_fail()
        async with database.transaction() as tx:
            await tx.execute(
                insert(inbox).values(
                    consumer=consumer, message_id=uuid.uuid4(), processed_at=func.now()
                )
            )
        count = await database.fetch_one(
            select(func.count()).select_from(inbox).where(inbox.c.consumer == consumer)
        )
        assert count is not None
        assert count["count_1"] == 1
    finally:
        await pool.close()
