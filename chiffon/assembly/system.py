"""``System``: the one composition root, and the facade a library user holds.

It reads ``Settings`` once and builds, in order, the store (embedded or configured
PostgreSQL, upgraded, with its group-commit journal) and the actor system journaling through
it; on exit it takes them down in reverse: actors drain and stop first, then the journal
flushes and the database connections close.
"""

from __future__ import annotations

import datetime as dt
import getpass
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from chiffon.actors import ActorSystem, Durability, LocalRef
from chiffon.logs import configure_logging
from chiffon.settings import Settings

if TYPE_CHECKING:
    from chiffon.actors.journal import Journal
    from chiffon.assembly.domain import Domain
    from chiffon.bridge.bridge import Bridge
    from chiffon.catalog import Catalog
    from chiffon.database import Database
    from chiffon.orchestrator.approval import Approver, Verdict
    from chiffon.protocol import PlanProposed, RunFinished
    from chiffon.protocol.messages import PlannerChoice
    from chiffon.runs import Channel, Runs
    from chiffon.runs.driving import Listener

    ApproverLike = Approver | Callable[[PlanProposed], Verdict | bool | Awaitable[Verdict | bool]]


@asynccontextmanager
async def open_runs(settings: Settings, *, catalog: Catalog | None = None) -> AsyncIterator[Runs]:
    """The application layer over the store alone — no actors: what a command that reads
    the record, or decides on or cancels a run another process drives, needs (``chiffon
    audit``, ``agents``, ``approve``). It submits nothing; with a ``catalog`` it previews
    (``chiffon plan`` with a model)."""
    from chiffon.runs import Runs

    async with store_for(settings) as store:
        planning: dict[str, Any] = {}
        if catalog is not None:
            from chiffon.assembly.domain import planners

            planning = {
                "catalog": catalog,
                "planner_for": planners(settings, catalog, store.database),
            }
        try:
            yield Runs(store.database, **planning, **_runs_settings(settings))
        finally:
            await _close_model_clients()


def _runs_settings(settings: Settings) -> dict[str, Any]:
    from chiffon.sealing import Sealer

    return {
        "approval_ttl": dt.timedelta(seconds=settings.approval_ttl_s),
        "budget_usd": settings.budget_usd,
        "sealer": Sealer.from_file(settings.sealing_key_path),
    }


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

    With a ``catalog`` (argument or ``CHIFFON_CATALOG``), the domain starts too — the agents'
    registry, orchestrator (reconciling runs left by stopped processes) and, with no
    ``CHIFFON_AMQP_URL``, a local agent — and ``run`` and ``resume`` handle infrastructure
    requests end to end. With ``CHIFFON_AMQP_URL`` the steps go to remote agents
    (``chiffon agent``) through the bridge. With ``resume_taken`` (``chiffon serve``: a
    process nobody else drives runs for), the runs it takes over from a stopped process are
    driven on at once: one that was executing resumes, one awaiting approval waits for a
    decision from any channel.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        default_durability: Durability = Durability.ASYNC,
        configure_logs: bool = True,
        catalog: Catalog | Path | str | None = None,
        resume_taken: bool = False,
    ) -> None:
        self.settings = settings if settings is not None else Settings.load()
        self._catalog = catalog if catalog is not None else self.settings.catalog
        self._domain: Domain | None = None
        self._resume_taken = resume_taken
        self._default_durability = default_durability
        self._configure_logs = configure_logs
        self._stack: AsyncExitStack | None = None
        self._actors: ActorSystem | None = None
        self._store: Any = None
        self._bridge: Bridge | None = None
        self._runs: Runs | None = None

    async def __aenter__(self) -> System:
        settings = self.settings
        if self._configure_logs:
            configure_logging(settings.log_level, settings.log_format)
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            self._store = await stack.enter_async_context(store_for(settings))
            actors = ActorSystem(
                journal=self._store.journal,
                default_durability=self._default_durability,
                mailbox_capacity=settings.mailbox_capacity,
                shutdown_deadline_s=settings.shutdown_deadline_s,
            )
            if settings.amqp_url is not None and self._catalog is not None:
                # Connected before the actors start and closed after they stop, so an actor
                # may send to remote agents for its whole life; it consumes only once the
                # domain's actors exist, and stops consuming before they stop.
                from chiffon.assembly.broker import orchestrator_bridge

                self._bridge = orchestrator_bridge(
                    settings, actors, self._store.journal, self._store.database
                )
                await self._bridge.connect()
                stack.push_async_callback(self._bridge.aclose)
            self._actors = await stack.enter_async_context(actors)
            from chiffon.orchestrator.event_log import EventLog
            from chiffon.runs import Runs

            events = EventLog(self._store.database)
            runs: dict[str, Any] = {}
            if self._catalog is not None:
                from chiffon.assembly.domain import start_domain

                # This process drives runs: it hears decisions and cancels made elsewhere.
                await stack.enter_async_context(events.listen())
                stack.push_async_callback(_close_model_clients)
                remote: dict[str, Any] = {}
                if self._bridge is not None:
                    from chiffon.assembly.broker import AGENT_ACTOR

                    discovery = self._bridge.every_agent(AGENT_ACTOR)
                    remote = {"bridge": self._bridge, "discovery": discovery}
                self._domain = domain = await start_domain(
                    settings, self._actors, self._store.database, self._store.journal,
                    catalog=self._catalog, events=events, resume_taken=self._resume_taken,
                    **remote,
                )  # fmt: skip
                runs = {
                    "orchestrator": domain.orchestrator, "catalog": domain.catalog,
                    "planner_for": domain.services.planner_for,
                }  # fmt: skip
            self._runs = Runs(
                self._store.database, events=events, **runs, **_runs_settings(settings)
            )
            if self._bridge is not None:
                await self._bridge.start_consuming()
                stack.push_async_callback(self._bridge.stop_consuming)
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
    def remote_queue(self) -> str | None:
        """This orchestrator's queue on the broker, or ``None`` with local agents only."""
        return None if self._bridge is None else self._bridge.trust.queue

    @property
    def broker_connected(self) -> bool | None:
        """Whether the bridge to the broker is up now; ``None`` with local agents only."""
        return None if self._bridge is None else self._bridge.connected

    def bridge_statistics(self) -> dict[str, int] | None:
        """The bridge's counters since it connected (``/metrics``); ``None`` without one."""
        if self._bridge is None:
            return None
        import dataclasses

        counters = dataclasses.asdict(self._bridge.statistics)
        counters["confirmed_messages"], counters["confirmed_envelopes"] = self._bridge.confirmed
        return counters

    @property
    def journal(self) -> Journal:
        return self._store.journal  # type: ignore[no-any-return]

    @property
    def database(self) -> Database:
        return self._store.database  # type: ignore[no-any-return]

    @property
    def dsn(self) -> str:
        """The database's connection string, password included: for a tool that connects on
        its own beside the system (``chiffon bench api``'s baseline)."""
        return str(self._store.dsn)

    @property
    def database_url(self) -> str:
        """The database in use, password masked."""
        return str(self._store.display_url)

    async def spawn(
        self, factory: Any, *args: Any, name: str | None = None, **kwargs: Any
    ) -> LocalRef:
        """Spawn a top-level actor; see ``ActorSystem.spawn``."""
        return await self.actors.spawn(factory, *args, name=name, **kwargs)

    @property
    def runs(self) -> Runs:
        """The application layer (``chiffon.runs.Runs``): submit, find, list, decide on,
        cancel and follow runs; the audit's questions. Submitting needs a catalog."""
        if self._runs is None:
            raise RuntimeError("System is not started: use `async with System(...)`")
        return self._runs

    @property
    def domain(self) -> Domain:
        """The running domain; raises ``RuntimeError`` when the system has no catalog."""
        if self._domain is None:
            raise RuntimeError("System has no catalog: pass catalog=… or set CHIFFON_CATALOG")
        return self._domain

    async def run(
        self,
        request: str,
        *,
        approver: ApproverLike,
        planner: PlannerChoice = "auto",
        high_value: bool = False,
        listener: Listener | None = None,
        approver_name: str | None = None,
        channel: Channel = "library",
        run_id: uuid.UUID | None = None,
    ) -> RunFinished:
        """Handle one request end to end and return how it ended (``RunFinished``):
        ``runs.submit``, then ``result``, with ``approver`` deciding on each plan meanwhile.

        ``approver`` decides on each plan: an ``Approver``, or a function of the
        ``PlanProposed`` returning a ``Verdict`` or a bool (or ``None``: no answer). Any other
        channel may decide first (``chiffon approve``, the API); the first decision wins.
        The decision is recorded under ``approver_name`` (default: the OS user) and
        ``channel``. ``listener`` sees the run's ``RunEvent``s as they happen. Raises
        ``JournalUnavailable`` when the database is down before the run starts; everything
        after that ends in the returned status.
        """
        from chiffon.runs import Identity
        from chiffon.runs.driving import drive

        self.domain  # noqa: B018  (raises when the system has no catalog)
        decider = _approver(approver)
        by = Identity(name=approver_name or getpass.getuser(), channel=channel)
        handle = await self.runs.submit(
            request, by=by, planner=planner, high_value=high_value,
            dry_run=decider.wants_dry_run, run_id=run_id,
        )  # fmt: skip
        return await drive(handle, decider, by, listener=listener)

    async def resume(
        self,
        run_id: uuid.UUID | str,
        *,
        approver: ApproverLike,
        listener: Listener | None = None,
        approver_name: str | None = None,
        channel: Channel = "library",
    ) -> RunFinished:
        """Pick up a run a stopped process left (``chiffon run --resume``) and drive it to
        its end like ``run``; ``listener`` sees the events from the resume on. Raises
        ``RunNotFound`` and ``NotResumable``."""
        from chiffon.runs import Identity
        from chiffon.runs.driving import drive

        self.domain  # noqa: B018
        decider = _approver(approver)
        by = Identity(name=approver_name or getpass.getuser(), channel=channel)
        resolved = (await self.runs.get(run_id)).id
        after = await self.runs.last_event(resolved)
        handle = await self.runs.resume(resolved, by=by, dry_run=decider.wants_dry_run)
        return await drive(handle, decider, by, listener=listener, after=after)


def _approver(approver: Any) -> Approver:
    from chiffon.orchestrator.approval import CallbackApprover

    if hasattr(approver, "decide") and hasattr(approver, "wants_dry_run"):
        return approver  # type: ignore[no-any-return]
    return CallbackApprover(approver)


async def _close_model_clients() -> None:
    """LiteLLM keeps HTTP clients per event loop; close them before the loop ends (only if a
    model was used: importing litellm to close nothing would cost seconds)."""
    import sys

    if "litellm" in sys.modules:
        from chiffon.llm.client import close_clients

        await close_clients()
