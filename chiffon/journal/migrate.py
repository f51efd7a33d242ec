"""Schema upgrades in code: ``chiffon db upgrade``, and the automatic upgrade at start.

Start-up pays for this on every command, so the common case costs one query: the
``alembic_version`` row is read with asyncpg and compared with ``HEAD``; Alembic (a slow
import) is loaded only when there is something to do. Upgrades from several processes at once
are serialised by a PostgreSQL advisory lock, and each re-reads the version once it holds it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from chiffon.journal.errors import SchemaUnknown

HEAD = "0007_dead_letter_reporters"
"""The newest revision in migrations/versions; a test checks it against Alembic's head."""

# pg_advisory_lock key: any constant that no other application on the server uses.
_LOCK_KEY = 0x636869666F6E  # "chifon"


def migrations_dir() -> Path:
    """Where the Alembic scripts are: ``migrations/`` next to the package in a checkout, or
    ``chiffon/_migrations`` inside an installed wheel."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package.parent / "migrations", package / "_migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError(f"no Alembic scripts next to {package}")


async def current(dsn: str) -> str | None:
    """The schema revision of the database at ``dsn``, or ``None`` before the first upgrade."""
    connection = await asyncpg.connect(dsn)
    try:
        return await _current(connection)
    finally:
        await connection.close()


async def _current(connection: asyncpg.Connection[Any]) -> str | None:
    try:
        value = await connection.fetchval("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return None
    return None if value is None else str(value)


async def upgrade(dsn: str, revision: str = "head") -> str | None:
    """Upgrade the database at ``dsn`` to ``revision``; returns the revision it is now at.

    Cheap when already at head. Raises ``SchemaUnknown`` when the database is at a revision
    this version does not know; what asyncpg raises when the server cannot be reached.
    """
    connection = await asyncpg.connect(dsn)
    try:
        if revision in ("head", HEAD) and await _current(connection) == HEAD:
            return HEAD
        await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            found = await _current(connection)
            if revision in ("head", HEAD) and found == HEAD:
                return HEAD
            await anyio.to_thread.run_sync(functools.partial(_alembic_upgrade, dsn, revision))
            return await _current(connection)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await connection.close()


def head() -> str:
    """The head revision according to Alembic's scripts (imports Alembic: slow)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(migrations_dir()))
    found = script.get_current_head()
    assert found is not None
    return found


def _alembic_upgrade(dsn: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.util.exc import CommandError

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["dsn"] = dsn
    try:
        command.upgrade(config, revision)
    except CommandError as exc:
        message = str(exc)
        if "Can't locate revision" in message:
            raise SchemaUnknown(message.rsplit(" ", 1)[-1].strip("'\"")) from None
        raise
