"""``System``: the one composition root, and the facade a library user holds.

It reads ``Settings`` once and builds, in order, the store (embedded or configured
PostgreSQL, upgraded, with its group-commit journal) and the actor system journaling through
it; on exit it takes them down in reverse: actors drain and stop first, then the journal
flushes and the database connections close.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any

from chiffon.actors import ActorSystem, Durability, LocalRef
from chiffon.logs import configure_logging
from chiffon.settings import Settings

if TYPE_CHECKING:
    from chiffon.actors.journal import Journal
    from chiffon.database import Database


def store_for(settings: Settings) -> AbstractAsyncContextManager[Any]:
    """The store ``settings`` describe: the configured or embedded PostgreSQL, upgraded at
    start when ``auto_upgrade``, with its journal (``chiffon.journal.open_store``)."""
    from chiffon.journal import open_store

    url = settings.database_url.get_secret_value() if settings.database_url else None
    return open_store(
        url,
        settings.embedded_data_dir,
        pool_size=settings.journal_pool_size,
        batch_size=settings.journal_batch_size,
        flush_delay_s=settings.journal_flush_ms / 1000.0,
        auto_upgrade=settings.auto_upgrade,
    )


class System:
    """Chiffon, assembled: ``async with chiffon.System(settings) as system: ...``.

    ``system.actors`` is the ``ActorSystem`` (spawn, lookup); ``system.journal`` and
    ``system.database`` reach PostgreSQL. With no ``CHIFFON_DATABASE_URL`` an embedded
    server is started under ``CHIFFON_HOME``. Start-up problems (a bad URL, a refused
    connection, an unusable data directory) raise ``ConfigError`` with one readable
    sentence.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        default_durability: Durability = Durability.ASYNC,
        configure_logs: bool = True,
    ) -> None:
        self.settings = settings if settings is not None else Settings.load()
        self._default_durability = default_durability
        self._configure_logs = configure_logs
        self._stack: AsyncExitStack | None = None
        self._actors: ActorSystem | None = None
        self._store: Any = None

    async def __aenter__(self) -> System:
        settings = self.settings
        if self._configure_logs:
            configure_logging(settings.log_level, settings.log_format)
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            self._store = await stack.enter_async_context(store_for(settings))
            self._actors = await stack.enter_async_context(
                ActorSystem(
                    journal=self._store.journal,
                    default_durability=self._default_durability,
                    mailbox_capacity=settings.mailbox_capacity,
                    shutdown_deadline_s=settings.shutdown_deadline_s,
                )
            )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        if stack is not None:
            return await stack.__aexit__(exc_type, exc, tb)
        return None

    @property
    def actors(self) -> ActorSystem:
        if self._actors is None:
            raise RuntimeError("System is not started: use `async with System(...)`")
        return self._actors

    @property
    def journal(self) -> Journal:
        return self._store.journal  # type: ignore[no-any-return]

    @property
    def database(self) -> Database:
        return self._store.database  # type: ignore[no-any-return]

    @property
    def database_url(self) -> str:
        """The database in use, password masked."""
        return str(self._store.display_url)

    async def spawn(
        self, factory: Any, *args: Any, name: str | None = None, **kwargs: Any
    ) -> LocalRef:
        """Spawn a top-level actor; see ``ActorSystem.spawn``."""
        return await self.actors.spawn(factory, *args, name=name, **kwargs)
