"""The ``Database`` port over asyncpg: SQLAlchemy Core statements compiled once per shape.

Ownership: ``PostgresDatabase`` borrows the pool made by ``chiffon.journal.postgres.create_pool``
and never closes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, cast

import asyncpg
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler

from chiffon.actors.errors import JournalUnavailable
from chiffon.journal.errors import DATABASE_UNAVAILABLE, describe

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    from chiffon.journal.postgres import Pool

    Connection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

_DIALECT = PGDialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]

Processor = Callable[[Any], Any]


class _Compiled:
    __slots__ = ("binds", "compiled", "results", "sql")

    def __init__(self, compiled: SQLCompiler) -> None:
        self.compiled = compiled
        self.sql = str(compiled)
        # Tuple-typed parameters have a sequence of processors; Core statements we run don't.
        processors = cast(dict[str, Processor], compiled._bind_processors)
        self.binds = [(name, processors.get(name)) for name in compiled.positiontup or ()]
        self.results: dict[str, Processor] = {}
        for column in compiled._result_columns:
            impl = column.type.dialect_impl(_DIALECT)
            processor = impl.result_processor(_DIALECT, None)
            if processor is not None:
                self.results[column.name] = processor

    def arguments(self, extracted: Sequence[Any] | None) -> list[Any]:
        params = self.compiled.construct_params(extracted_parameters=extracted)
        return [
            params[name] if fn is None or params[name] is None else fn(params[name])
            for name, fn in self.binds
        ]


class PostgresDatabase:
    """The ``Database`` port over an asyncpg pool.

    Each statement is compiled once per shape (SQLAlchemy's cache key) into asyncpg's ``$n``
    SQL; statements with expanding ``IN`` lists are compiled on every call. Connection
    failures raise ``JournalUnavailable`` (retryable); anything else PostgreSQL refuses
    propagates as asyncpg raised it.
    """

    _cache: ClassVar[dict[Any, _Compiled]] = {}

    def __init__(
        self, pool: Pool, *, connection: Connection | None = None, dsn: str | None = None
    ) -> None:
        self._pool = pool
        self._connection = connection
        self._dsn = dsn

    def _prepare(self, statement: Executable) -> tuple[_Compiled, list[Any]]:
        key = statement._generate_cache_key()  # type: ignore[attr-defined]
        if key is not None:
            entry = self._cache.get(key.key)
            if entry is not None:
                return entry, entry.arguments(key.bindparams)
        # Compiled with its cache key, so that later statements of the same shape can pass
        # their own parameters (``key.bindparams``) to it: SQLAlchemy's own compiled cache.
        compiled = _DIALECT.statement_compiler(_DIALECT, statement, cache_key=key)  # type: ignore[arg-type]
        if compiled.post_compile_params or compiled.literal_execute_params:
            compiled = statement.compile(  # type: ignore[attr-defined]
                dialect=_DIALECT, compile_kwargs={"render_postcompile": True}
            )
            entry = _Compiled(compiled)
            return entry, entry.arguments(None)
        entry = _Compiled(compiled)
        if key is not None:
            self._cache[key.key] = entry
        return entry, entry.arguments(None)

    async def _run(self, method: str, statement: Executable) -> Any:
        entry, args = self._prepare(statement)
        target: Any = self._connection if self._connection is not None else self._pool
        try:
            return entry, await getattr(target, method)(entry.sql, *args)
        except DATABASE_UNAVAILABLE as exc:
            raise JournalUnavailable(describe(exc)) from exc

    async def fetch(self, statement: Executable) -> Sequence[Mapping[str, Any]]:
        """Run a statement and return every row. Raises ``JournalUnavailable``."""
        entry, rows = await self._run("fetch", statement)
        return [_mapping(row, entry.results) for row in rows]

    async def fetch_one(self, statement: Executable) -> Mapping[str, Any] | None:
        """Run a statement and return its first row, or ``None``. Raises ``JournalUnavailable``."""
        entry, row = await self._run("fetchrow", statement)
        return None if row is None else _mapping(row, entry.results)

    async def execute(self, statement: Executable) -> None:
        """Run a statement for its effect. Raises ``JournalUnavailable``."""
        await self._run("execute", statement)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresDatabase]:
        """A transaction (a savepoint when nested). Raises ``JournalUnavailable``."""
        if self._connection is not None:
            async with self._connection.transaction():
                yield self
            return
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                yield PostgresDatabase(self._pool, connection=connection, dsn=self._dsn)
        except DATABASE_UNAVAILABLE as exc:
            raise JournalUnavailable(describe(exc)) from exc

    @asynccontextmanager
    async def listen(self, channel: str, on_notify: Callable[[str], None]) -> AsyncIterator[None]:
        """``LISTEN channel`` on a connection of its own (with the store's DSN; a pooled one
        when there is none), for as long as the context is open. Raises
        ``JournalUnavailable`` when it cannot connect."""

        def notified(connection: Connection, pid: int, name: str, payload: object) -> None:
            on_notify(str(payload))

        try:
            connection: Connection
            if self._dsn is not None:
                connection = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": "chiffon listen"}
                )
                release = connection.close
            else:
                connection = await self._pool.acquire()
                release = partial(self._pool.release, connection)
            await connection.add_listener(channel, notified)
        except DATABASE_UNAVAILABLE as exc:
            raise JournalUnavailable(describe(exc)) from exc
        try:
            yield
        finally:
            try:
                await connection.remove_listener(channel, notified)
            except DATABASE_UNAVAILABLE:
                pass  # the connection is gone, and its LISTEN with it
            finally:
                await release()


def _mapping(row: asyncpg.Record, processors: dict[str, Processor]) -> Mapping[str, Any]:
    values = dict(row.items())
    for name, processor in processors.items():
        if name in values and values[name] is not None:
            values[name] = processor(values[name])
    return MappingProxyType(values)
