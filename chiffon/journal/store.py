"""``open_store``: the journal, the database and (perhaps) the embedded server, as one unit.

This is what the composition root calls. It starts the embedded server when no URL is given,
connects, upgrades the schema, starts the journal's writer, and on exit closes all of it in
reverse order. Heavy modules (asyncpg, SQLAlchemy, Alembic) are imported on call, so that
importing ``chiffon.journal`` stays cheap for the CLI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from chiffon.journal import url as urls
from chiffon.journal.errors import DatabaseRejected, DatabaseUnreachable, SchemaOutdated

if TYPE_CHECKING:
    from chiffon.journal.database import PostgresDatabase
    from chiffon.journal.postgres import Pool, PostgresJournal


@dataclasses.dataclass(frozen=True, slots=True)
class Store:
    """What ``open_store`` yields: the two ports, and where they point."""

    journal: PostgresJournal
    database: PostgresDatabase
    dsn: str
    """The connection string in use, password included: give it to code, not to people."""
    display_url: str
    """The same with the password masked: for logs and ``chiffon db url``."""


async def resolve_dsn(
    database_url: str | None, data_dir: Path, stack: AsyncExitStack
) -> tuple[str, str]:
    """The (dsn, display URL) to use, starting the embedded server when there is no URL.

    The server is released when ``stack`` closes. Raises ``DatabaseUrlInvalid``;
    ``DataDirUnusable``.
    """
    if database_url is None:
        from chiffon.journal.embedded import EmbeddedServer

        server = await EmbeddedServer.start(data_dir)
        stack.push_async_callback(server.release)
        return server.dsn, server.dsn
    dsn = urls.normalize(database_url)
    return dsn, urls.mask(dsn)


async def connect_pool(dsn: str, *, size: int, timeout: float = 10.0) -> Pool:
    """A connection pool, or a ``ConfigError`` sentence saying why there is none.

    Raises ``DatabaseUnreachable`` (refused, unknown host, no answer) or ``DatabaseRejected``
    (authentication, missing database); neither contains the password.
    """
    import asyncpg

    from chiffon.journal.postgres import create_pool

    where = urls.where(dsn)
    try:
        return await create_pool(dsn, size=size, timeout=timeout)
    except ConnectionRefusedError:
        raise DatabaseUnreachable(where, "connection refused") from None
    except TimeoutError:
        raise DatabaseUnreachable(where, f"no answer within {timeout:g} s") from None
    except OSError as exc:
        reason = "unknown host" if exc.errno in (-2, -3, -5) else _reason(exc, dsn)
        raise DatabaseUnreachable(where, reason) from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseRejected(where, _reason(exc, dsn)) from None


@asynccontextmanager
async def open_store(
    database_url: str | None,
    data_dir: Path,
    *,
    pool_size: int,
    batch_size: int,
    flush_delay_s: float,
    auto_upgrade: bool,
) -> AsyncIterator[Store]:
    """Open the journal and the database at ``database_url``, or on the embedded server whose
    data lives in ``data_dir`` when the URL is ``None``; close everything on exit.

    Raises (at entry) ``DatabaseUrlInvalid``, ``DataDirUnusable``, ``DatabaseUnreachable``,
    ``DatabaseRejected``, ``SchemaUnknown``, and ``SchemaOutdated`` when ``auto_upgrade`` is
    off and the schema is behind: all ``ConfigError``s with one sentence.
    """
    from chiffon.journal import migrate
    from chiffon.journal.database import PostgresDatabase
    from chiffon.journal.postgres import PostgresJournal

    async with AsyncExitStack() as stack:
        dsn, display_url = await resolve_dsn(database_url, data_dir, stack)
        pool = await connect_pool(dsn, size=pool_size)
        stack.push_async_callback(_close_pool, pool)
        if auto_upgrade:
            await migrate.upgrade(dsn)
        else:
            found = await migrate.current(dsn)
            if found != migrate.HEAD:
                raise SchemaOutdated(found, migrate.HEAD)
        journal = await stack.enter_async_context(
            PostgresJournal(pool, batch_size=batch_size, flush_delay=flush_delay_s)
        )
        yield Store(journal, PostgresDatabase(pool, dsn=dsn), dsn, display_url)


async def _close_pool(pool: Pool) -> None:
    with anyio.CancelScope(shield=True), anyio.move_on_after(5.0) as scope:
        await pool.close()
    if scope.cancelled_caught:
        pool.terminate()


def _reason(exc: BaseException, dsn: str) -> str:
    text = str(exc).strip().splitlines()
    reason = text[0].rstrip(".") if text else type(exc).__name__
    secret = urls.password(dsn)
    return reason.replace(secret, "***") if secret else reason


__all__ = ["Store", "connect_pool", "open_store", "resolve_dsn"]
