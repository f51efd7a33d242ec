"""ActorSystem: owns every actor's task, spawns and finds actors, and shuts down cleanly."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

import anyio

from chiffon.actors.actor import Actor
from chiffon.actors.cell import _DELIVER, Cell, Supervisor, decide
from chiffon.actors.deadlines import AskDeadlines
from chiffon.actors.envelope import Envelope, new_id
from chiffon.actors.errors import (
    ActorNotFound,
    Escalated,
    NameTaken,
    StartFailed,
    SystemShutDown,
)
from chiffon.actors.handlers import Dispatch, build_dispatch
from chiffon.actors.journal import Durability, Journal
from chiffon.actors.ref import LocalRef
from chiffon.actors.supervision import (
    Clock,
    Directive,
    MonotonicClock,
    OneForOne,
    RestartHistory,
    SupervisorStrategy,
)
from chiffon.actors.watch import Terminated

log = logging.getLogger("chiffon.actors")

_dispatch: dict[type, Dispatch] = {}


class Guardian(Supervisor):
    """The root supervisor: parent of every top-level actor. Its escalation fails the system."""

    def __init__(self, system: ActorSystem, strategy: SupervisorStrategy) -> None:
        self.system = system
        self._strategy = strategy
        self.children: dict[str, Cell] = {}
        self.shared_history: RestartHistory | None = None

    def strategy(self) -> SupervisorStrategy:
        return self._strategy

    def children_cells(self) -> list[Cell]:
        return list(self.children.values())

    def decide(self, child: Cell, exc: BaseException) -> tuple[Directive, float, str | None]:
        return decide(self, child, exc)

    def escalate(self, failure: Escalated) -> None:
        self.system.fail(failure)


class ActorSystem:
    """An async context manager that runs actors.

    ``async with ActorSystem() as system:`` — spawn with ``await system.spawn(MyActor)``,
    find named actors with ``system.lookup(name)``. Leaving the block shuts down: every actor
    drains its mailbox and stops (children before parents) within ``shutdown_deadline_s``;
    whatever is still running then is cancelled. No actor task outlives the block.

    When a failure escalates past the top-level actors (the ``strategy`` here), the block's
    body is cancelled, the system shuts down, and ``Escalated`` is raised out of the block
    with the original failure as its cause.

    ``journal``: where messages are recorded. A message class declares how with a
    ``durability`` class attribute (``Durability.SYNC``/``ASYNC``/``TRANSIENT``); classes
    that do not say get ``default_durability``.
    """

    def __init__(
        self,
        *,
        name: str = "chiffon",
        journal: Journal | None = None,
        default_durability: Durability = Durability.ASYNC,
        mailbox_capacity: int = 1000,
        strategy: SupervisorStrategy | None = None,
        shutdown_deadline_s: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.clock: Clock = clock or MonotonicClock()
        """What actors' timers sleep on (``chiffon.actors.testing.ManualClock`` in tests)."""
        self.address = f"chiffon://{name}"
        self.journal = journal
        self.default_durability = default_durability
        self.mailbox_capacity = mailbox_capacity
        self.shutdown_deadline_s = shutdown_deadline_s
        self.guardian = Guardian(self, strategy or OneForOne())
        self._names: dict[str, Cell] = {}
        self._durability: dict[type, Durability] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._serial = itertools.count(1)
        self._closing = False
        self._cancelling = False
        self._failure: BaseException | None = None
        self._host: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadlines: AskDeadlines | None = None
        # Set at start, read on every ask: plain attributes, not properties.
        self.ask_deadlines: AskDeadlines
        self.new_future: Callable[[], asyncio.Future[Any]]

    # -- context manager ----------------------------------------------------------------

    async def __aenter__(self) -> ActorSystem:
        self._loop = asyncio.get_running_loop()
        self._deadlines = self.ask_deadlines = AskDeadlines(self._loop)
        self.new_future = self._loop.create_future
        self._host = asyncio.current_task()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        await self.shutdown()
        if self._failure is not None:
            if isinstance(exc, asyncio.CancelledError) and self._host is not None:
                self._host.uncancel()
            raise self._failure
        return None

    @property
    def closing(self) -> bool:
        """Whether the system is shutting down (or has): nothing new may be spawned."""
        return self._closing

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise SystemShutDown()
        return self._loop

    @property
    def deadlines(self) -> AskDeadlines:
        if self._deadlines is None:
            raise SystemShutDown()
        return self._deadlines

    # -- spawning and finding -----------------------------------------------------------

    async def spawn(
        self,
        factory: type[Actor] | Any,
        *args: Any,
        name: str | None = None,
        capacity: int | None = None,
        **kwargs: Any,
    ) -> LocalRef:
        """Start a top-level actor: ``factory(*args, **kwargs)`` builds the instance.

        Returns once its ``on_start`` has finished. Raises ``StartFailed`` (cause chained)
        when the constructor or ``on_start`` raises, ``NameTaken``, ``SystemShutDown``,
        ``HandlerSpecError`` when the actor class's handlers are malformed.
        """
        return await self.spawn_under(None, factory, args, kwargs, name=name, capacity=capacity)

    async def spawn_under(
        self,
        parent: Cell | None,
        factory: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        name: str | None,
        capacity: int | None,
    ) -> LocalRef:
        if self._closing or self._loop is None:
            raise SystemShutDown()
        if name is not None and name in self._names:
            raise NameTaken(name)
        parent_address = self.address if parent is None else parent.address
        local_name = name if name is not None else f"${next(self._serial)}"
        address = f"{parent_address}/{local_name}"
        try:
            actor = factory(*args, **kwargs)
        except Exception as exc:
            raise StartFailed(address) from exc
        if not isinstance(actor, Actor):
            raise TypeError(f"{factory!r} did not build an Actor")
        cls = type(actor)
        dispatch = _dispatch.get(cls)
        if dispatch is None:
            dispatch = _dispatch[cls] = build_dispatch(cls)
        cell = Cell(
            self, parent, local_name, address, actor, factory, (args, kwargs), dispatch,
            capacity or self.mailbox_capacity,
        )  # fmt: skip
        if name is not None:
            self._names[name] = cell
        (self.guardian if parent is None else parent).children[local_name] = cell
        if cls.on_start is not Actor.on_start:
            started: asyncio.Future[BaseException | None] = self._loop.create_future()
            cell.activate(started)
            failure = await started
            if failure is not None:
                raise StartFailed(address) from failure
        return cell.ref

    def lookup(self, name: str) -> LocalRef:
        """The ref of the live actor named ``name``. Raises ``ActorNotFound``."""
        cell = self._names.get(name)
        if cell is None or cell.stopped:
            raise ActorNotFound(name)
        return cell.ref

    @property
    def actors(self) -> list[LocalRef]:
        """The top-level actors that are alive."""
        return [cell.ref for cell in self.guardian.children.values()]

    async def stop(self, ref: LocalRef) -> None:
        """Stop ``ref``'s actor after its current message and wait until it has stopped."""
        await ref.stop()

    # -- death watch --------------------------------------------------------------------

    def watch(self, watcher: Cell, ref: LocalRef) -> None:
        target = ref._cell
        if target.stopped:
            notice = Terminated(ref, target.cause)
            watcher.post(_DELIVER, Envelope(new_id(), "Terminated", notice, watcher.ref))
            return
        if target.watchers is None:
            target.watchers = set()
        target.watchers.add(watcher)

    def unwatch(self, watcher: Cell, ref: LocalRef) -> None:
        watchers = ref._cell.watchers
        if watchers is not None:
            watchers.discard(watcher)

    # -- runtime services for cells and refs --------------------------------------------

    def durability_of(self, cls: type) -> Durability:
        """How messages of ``cls`` are journaled: its ``durability`` attribute (a ``Durability``
        or its value, ``"sync"``/``"async"``/``"transient"``), or the default."""
        found = self._durability.get(cls)
        if found is None:
            declared = getattr(cls, "durability", None)
            if isinstance(declared, str):  # wire models declare it without importing actors
                declared = Durability(declared)
            found = declared if isinstance(declared, Durability) else self.default_durability
            self._durability[cls] = found
        return found

    def start_task(self, coro: Coroutine[Any, Any, None], cell: Cell) -> asyncio.Task[None] | None:
        if self._cancelling or self._loop is None:
            coro.close()
            return None
        task = self._loop.create_task(coro, name=cell.address)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The cell catches handler failures; anything here is a runtime bug. Fail loudly.
            self.fail(task.exception())  # type: ignore[arg-type]

    def unregister(self, cell: Cell) -> None:
        if self._names.get(cell.name) is cell:
            del self._names[cell.name]
        siblings = self.guardian.children if cell.parent is None else cell.parent.children
        if siblings.get(cell.name) is cell:
            del siblings[cell.name]

    def fail(self, failure: BaseException) -> None:
        """Stop the system because ``failure`` reached the root: the block's body is
        cancelled and ``failure`` is raised out of ``async with``."""
        if self._failure is not None:
            return
        log.error("actor system failed: %s", failure)
        self._failure = failure
        if self._host is not None and not self._closing:
            self._host.cancel()

    # -- shutdown -----------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Drain and stop every actor within ``shutdown_deadline_s``, then cancel the rest."""
        if self._closing:
            return
        self._closing = True
        top = self.guardian.children_cells()
        for cell in top:
            cell.request_stop(drain=True)
        with anyio.move_on_after(self.shutdown_deadline_s, shield=True):
            for cell in top:
                await cell.wait_stopped()
        self._cancelling = True
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(*tasks, return_exceptions=True)
        for cell in self._all_cells():
            cell._finish()
        if self._deadlines is not None:
            self._deadlines.close()

    def _all_cells(self) -> list[Cell]:
        found: list[Cell] = []
        stack = self.guardian.children_cells()
        while stack:
            cell = stack.pop()
            found.append(cell)
            stack.extend(cell.children_cells())
        return found
