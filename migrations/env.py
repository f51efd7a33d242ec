"""Alembic's environment for Chiffon: every tables module on the shared MetaData, one driver.

Chiffon runs this through ``chiffon.journal.migrate`` (``chiffon db upgrade`` and the automatic
upgrade at start), which passes the connection string as ``config.attributes["dsn"]`` and runs
Alembic in a worker thread. Run by hand (``uv run alembic upgrade head``), it reads the URL from
``chiffon.settings`` — never from alembic.ini. There is one driver, asyncpg, so this follows
Alembic's asyncio recipe: an async engine whose connection runs the migrations through
``run_sync``.
"""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

# Each package that owns tables is imported here, and only here, so that autogenerate and
# the migrations see the whole schema. Add a domain's ``tables`` module when it lands.
import chiffon.access.tables
import chiffon.agents.tables
import chiffon.audit.tables
import chiffon.journal.schema
import chiffon.llm.tables
import chiffon.playbooks.tables
import chiffon.run_records  # noqa: F401
from chiffon.database import metadata

config = context.config
target_metadata = metadata


def _dsn() -> str:
    dsn = config.attributes.get("dsn")
    if dsn:
        return str(dsn)
    from chiffon.settings import Settings

    url = Settings.load().database_url
    if url is None:
        raise SystemExit(
            "CHIFFON_DATABASE_URL is not set: use `chiffon db upgrade`, which starts the "
            "embedded server, or set the URL of the server to migrate."
        )
    return url.get_secret_value()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    dsn = _dsn()

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(dsn)

    engine = create_async_engine("postgresql+asyncpg://", async_creator=connect, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        dialect_name="postgresql", target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
