"""Schema migrations: idempotent, concurrent-safe, and in step with the Core tables."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import anyio
import asyncpg
import pytest

# Every tables module, as migrations/env.py imports them.
import chiffon.access.tables
import chiffon.agents.tables
import chiffon.audit.tables
import chiffon.llm.tables
import chiffon.playbooks.tables
import chiffon.run_records  # noqa: F401
from chiffon.database import metadata
from chiffon.journal import migrate
from tests.conftest import with_database


@pytest.fixture
async def empty_dsn(embedded_admin_dsn: str) -> AsyncIterator[str]:
    """A database of its own, with no schema at all."""
    name = f"chiffon_migrate_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(embedded_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(embedded_admin_dsn, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_the_head_constant_is_alembics_head() -> None:
    assert migrate.head() == migrate.HEAD
    assert (migrate.migrations_dir() / "env.py").is_file()


async def test_upgrade_is_idempotent_and_current_reports_head(empty_dsn: str) -> None:
    assert await migrate.current(empty_dsn) is None
    with anyio.fail_after(60):
        assert await migrate.upgrade(empty_dsn) == migrate.HEAD
        assert await migrate.upgrade(empty_dsn) == migrate.HEAD
    assert await migrate.current(empty_dsn) == migrate.HEAD


async def test_two_concurrent_upgrades_both_succeed(empty_dsn: str) -> None:
    results: list[str | None] = []

    async def upgrade() -> None:
        results.append(await migrate.upgrade(empty_dsn))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(upgrade)
            group.start_soon(upgrade)
    assert results == [migrate.HEAD, migrate.HEAD]
    assert await migrate.current(empty_dsn) == migrate.HEAD


async def test_the_migrated_schema_matches_the_core_tables(embedded_dsn: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(embedded_dsn)

    engine = create_async_engine("postgresql+asyncpg://", async_creator=connect, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []
