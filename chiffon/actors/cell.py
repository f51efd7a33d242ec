"""Cell: the runtime around one actor — its mailbox, its task, its children, its failures.

An actor gets a task only when it has work: at spawn when it defines ``on_start``,
otherwise at its first message or signal. An idle actor that never got a message is a
cell, a mailbox and an instance (about 1.5 KB), which is how 100,000 of them fit in 2 s.

Failures: a handler's exception is answered to an asker, then the parent's strategy is
applied right here in the child's task (supervision state lives in the parent's cell and
everything runs on one event loop, so no message round trip is needed). Escalation is the
one case that must run in the parent's own task: it is posted to the parent as a signal.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from chiffon.actors.actor import Actor, ActorContext
from chiffon.actors.current import current_cell
from chiffon.actors.envelope import Envelope, new_id
from chiffon.actors.errors import ActorStopped, Escalated, NoHandler, SystemShutDown
from chiffon.actors.handlers import Dispatch
from chiffon.actors.mailbox import Mailbox
from chiffon.actors.ref import LocalRef
from chiffon.actors.supervision import Directive, RestartHistory, SupervisorStrategy
from chiffon.actors.watch import Terminated

if TYPE_CHECKING:
    from chiffon.actors.system import ActorSystem
    from chiffon.actors.timers import Timers

log = logging.getLogger("chiffon.actors")

# Messages handled in a row before yielding to the event loop, so that one busy actor
# cannot starve the others when its handlers never await.
_BUDGET = 128

# Signals, handled before the next message.
_STOP = 0
_RESTART = 1
_FAILED = 2
_DELIVER = 3


class Cell:
    """One actor's runtime. Created by ``ActorSystem.spawn``; never used directly."""

    __slots__ = (
        "actor",
        "address",
        "cause",
        "children",
        "current",
        "dispatch",
        "done",
        "draining",
        "factory",
        "factory_args",
        "history",
        "mailbox",
        "name",
        "parent",
        "ref",
        "retired",
        "shared_history",
        "signals",
        "starting",
        "stopped",
        "system",
        "task",
        "timers",
        "watchers",
    )

    def __init__(
        self,
        system: ActorSystem,
        parent: Cell | None,
        name: str,
        address: str,
        actor: Actor,
        factory: Any,
        factory_args: tuple[tuple[Any, ...], dict[str, Any]],
        dispatch: Dispatch,
        capacity: int,
    ) -> None:
        self.system = system
        self.parent = parent
        self.name = name
        self.address = address
        self.actor = actor
        self.factory = factory
        self.factory_args = factory_args
        self.dispatch = dispatch
        self.mailbox = Mailbox(capacity)
        self.ref = LocalRef(self)
        self.children: dict[str, Cell] = {}
        self.current: Envelope | None = None
        self.signals: deque[tuple[int, Any]] | None = None
        self.watchers: set[Cell] | None = None
        self.history: RestartHistory | None = None
        self.shared_history: RestartHistory | None = None
        self.task: asyncio.Task[None] | None = None
        self.timers: Timers | None = None
        self.done: asyncio.Future[None] | None = None
        self.starting: asyncio.Future[BaseException | None] | None = None
        self.draining = False
        self.stopped = False
        self.cause: BaseException | None = None
        self.retired: Actor | None = None  # the instance whose on_stop has run
        actor.context = ActorContext(self)

    # -- life ---------------------------------------------------------------------------

    def activate(self, started: asyncio.Future[BaseException | None] | None = None) -> None:
        """Give the actor a task (once)."""
        if self.task is None and not self.stopped:
            self.starting = started
            self.task = self.system.start_task(self._run(started), self)

    async def _run(self, started: asyncio.Future[BaseException | None] | None) -> None:
        current_cell.set(self)
        try:
            if started is not None:
                try:
                    await self.actor.on_start()
                except Exception as exc:
                    self.cause = exc
                    started.set_result(exc)
                    return
                started.set_result(None)
            if await self._loop():
                await self._stop_gracefully()
        finally:
            self._finish()

    async def _loop(self) -> bool:
        """Handle messages until told to stop; ``True`` for a graceful stop."""
        mailbox = self.mailbox
        buffer = mailbox.buffer
        new_waiter = self.system.loop.create_future
        table = self.dispatch.table
        lookup = self.dispatch.lookup
        actor = self.actor
        budget = _BUDGET
        while True:
            if self.signals:
                if not await self._signals():
                    return True
                actor = self.actor
                continue
            if buffer:
                env = buffer.popleft()
                if mailbox.putters:
                    mailbox.release()
            elif self.draining:
                return True
            else:
                budget = _BUDGET
                waiter = mailbox.waiter = new_waiter()  # mailbox.wait(), inlined: hot
                await waiter
                continue
            self.current = env
            body = env.body
            entry = table.get(type(body)) or lookup(type(body))
            try:
                if entry is None:
                    raise NoHandler(self.address, env.kind)  # noqa: TRY301 (one failure path)
                fn, is_coroutine = entry
                result = (await fn(actor, body)) if is_coroutine else fn(actor, body)
            except Exception as exc:
                reply = env.reply
                if reply is not None and not reply.done():
                    reply.set_exception(exc)
                failure = await self._on_failure(exc, body)
                self.current = None
                if failure is not None and not await self._failed(failure):
                    return True
                actor = self.actor
                continue
            self.current = None
            reply = env.reply
            if reply is not None and not reply.done():
                reply.set_result(result)
            budget -= 1
            if not budget:
                budget = _BUDGET
                await asyncio.sleep(0)

    async def _signals(self) -> bool:
        """Act on queued signals; ``False`` when the actor must stop."""
        assert self.signals is not None
        while self.signals:
            signal, arg = self.signals.popleft()
            if signal == _STOP:
                return False
            if signal == _RESTART:
                cause, delay = arg  # a sibling's restart under one-for-all: same backoff
                if not await self._restart(cause, delay):
                    return False
            elif signal == _FAILED:
                if not await self._failed(arg):
                    return False
            elif signal == _DELIVER and not await self._deliver(arg):
                return False
        return True

    async def _deliver(self, env: Envelope) -> bool:
        """Handle one envelope outside the hot loop (death-watch notices)."""
        entry = self.dispatch.lookup(type(env.body))
        if entry is None:
            return True  # an actor that does not handle Terminated is not interested
        self.current = env
        try:
            fn, is_coroutine = entry
            if is_coroutine:
                await fn(self.actor, env.body)
            else:
                fn(self.actor, env.body)
        except Exception as exc:
            failure = await self._on_failure(exc, env.body)
            self.current = None
            return failure is None or await self._failed(failure)
        self.current = None
        return True

    async def _on_failure(self, exc: Exception, message: Any) -> Exception | None:
        """The actor's ``on_failure`` hook, when it has one: ``None`` when the hook dealt with
        the failure, otherwise the exception to hand to the supervisor (the one the hook
        raised, usually ``exc`` itself). A message no handler takes is not a handler's
        failure: it goes to the supervisor without the hook."""
        actor = self.actor
        if type(actor).on_failure is Actor.on_failure or isinstance(exc, NoHandler):
            return exc
        try:
            await actor.on_failure(exc, message)
        except Exception as raised:
            return raised
        return None

    def post(self, signal: int, arg: Any = None) -> None:
        """Queue a signal for this actor and make sure it runs to see it."""
        if self.stopped:
            return
        if self.signals is None:
            self.signals = deque()
        self.signals.append((signal, arg))
        if self.task is None:
            self.activate()
        else:
            self.mailbox.wake()

    # -- supervision --------------------------------------------------------------------

    def strategy(self) -> SupervisorStrategy:
        """The strategy this cell applies to its children."""
        return type(self.actor).supervisor_strategy

    async def _failed(self, exc: BaseException) -> bool:
        """Apply the parent's directive for ``exc``; ``False`` when this actor must stop."""
        supervisor: Cell | Supervisor = (
            self.parent if self.parent is not None else self.system.guardian
        )
        directive, delay, reason = supervisor.decide(self, exc)
        log.debug("actor failed", extra={"address": self.address, "directive": directive.value})
        if directive is Directive.RESUME:
            return True
        if self.system.closing:
            # The system is shutting down: a failure stops the actor. A restart would only
            # fail again (nothing may be spawned now) and escalate a clean stop — Ctrl-C — into
            # the system's failure.
            self.cause = exc
            return False
        strategy = supervisor.strategy()
        if directive is Directive.RESTART:
            if strategy.all_for_one:
                for sibling in supervisor.children_cells():
                    if sibling is not self:
                        sibling.post(_RESTART, (exc, delay))
            return await self._restart(exc, delay)
        self.cause = exc
        if directive is Directive.STOP:
            if strategy.all_for_one:
                for sibling in supervisor.children_cells():
                    if sibling is not self:
                        sibling.request_stop(drain=False)
            return False
        escalated = Escalated(self.address, reason or f"{type(exc).__name__}: {exc}")
        escalated.__cause__ = exc
        self.cause = escalated
        supervisor.escalate(escalated)
        return False

    def decide(self, child: Cell, exc: BaseException) -> tuple[Directive, float, str | None]:
        """This cell's strategy applied to a failing child: directive, backoff, reason."""
        return decide(self, child, exc)

    def children_cells(self) -> list[Cell]:
        return list(self.children.values())

    def escalate(self, failure: Escalated) -> None:
        """A child escalated: fail this actor with it, in this actor's own task."""
        self.post(_FAILED, failure)

    async def _restart(self, cause: BaseException, delay: float) -> bool:
        if delay > 0:
            parent = self.parent if self.parent is not None else self.system.guardian
            await parent.strategy().clock.sleep(delay)
        if self.timers is not None:
            self.timers.cancel_all()  # the fresh instance arms its own
        await self._stop_children(drain=False)
        if self.actor is not self.retired:  # not yet, if a constructor failed last time
            self.retired = self.actor
            try:
                await self.actor.on_stop()
            except Exception:
                log.exception("on_stop of %s raised during restart", self.address)
        args, kwargs = self.factory_args
        try:
            fresh = self.factory(*args, **kwargs)
            fresh.context = ActorContext(self)
            self.actor = fresh
            await fresh.on_restart(cause)
        except Exception as exc:
            return await self._failed(exc)
        return True

    # -- stopping -----------------------------------------------------------------------

    def request_stop(self, *, drain: bool) -> None:
        """Stop after the current message (``drain``: after the mailbox is empty)."""
        if self.stopped:
            return
        if drain:
            self.draining = True
            if self.task is None:
                self.activate()
            else:
                self.mailbox.wake()
        else:
            self.post(_STOP)

    async def stop_and_wait(self) -> None:
        self.request_stop(drain=False)
        caller = current_cell.get()
        while caller is not None:
            if caller is self:
                return  # asked by this actor or a descendant: waiting would deadlock
            caller = caller.parent
        await self.wait_stopped()

    async def wait_stopped(self) -> None:
        if self.stopped:
            return
        if self.done is None:
            self.done = self.system.loop.create_future()
        await asyncio.shield(self.done)

    async def _stop_children(self, *, drain: bool) -> None:
        children = list(self.children.values())
        for child in children:
            child.request_stop(drain=drain)
        for child in children:
            await child.wait_stopped()

    async def _stop_gracefully(self) -> None:
        if self.timers is not None:
            self.timers.cancel_all()
        self._fail_queued()
        await self._stop_children(drain=self.draining)
        if self.actor is self.retired:
            return  # stopped by a restart whose constructor then failed
        self.retired = self.actor
        try:
            await self.actor.on_stop()
        except Exception as exc:
            log.exception("on_stop of %s raised", self.address)
            if self.cause is None:
                self.cause = exc

    def _fail_queued(self) -> None:
        for env in self.mailbox.close():
            if env.reply is not None and not env.reply.done():
                env.reply.set_exception(ActorStopped(self.address, "before handling this message"))

    def _finish(self) -> None:
        """Last rites, run even when the task is cancelled: nothing here awaits."""
        if self.stopped:
            return
        current = self.current
        if current is not None:  # cancelled mid-handler (shutdown deadline): answer its asker
            self.current = None
            if current.reply is not None and not current.reply.done():
                current.reply.set_exception(
                    ActorStopped(self.address, "while handling this message")
                )
        starting = self.starting
        if starting is not None and not starting.done():  # cancelled before on_start ended
            starting.set_result(SystemShutDown())
        if self.timers is not None:
            self.timers.cancel_all()
        self._fail_queued()
        self.stopped = True
        self.system.unregister(self)
        if self.watchers:
            notice = Terminated(self.ref, self.cause)
            for watcher in self.watchers:
                watcher.post(_DELIVER, Envelope(new_id(), "Terminated", notice, watcher.ref))
            self.watchers = None
        if self.done is not None and not self.done.done():
            self.done.set_result(None)


class Supervisor(abc.ABC):
    """What a failing child needs of its parent: a cell, or the system's guardian."""

    shared_history: RestartHistory | None

    @abc.abstractmethod
    def strategy(self) -> SupervisorStrategy: ...

    @abc.abstractmethod
    def children_cells(self) -> list[Cell]: ...

    @abc.abstractmethod
    def decide(self, child: Cell, exc: BaseException) -> tuple[Directive, float, str | None]: ...

    @abc.abstractmethod
    def escalate(self, failure: Escalated) -> None: ...


def decide(
    supervisor: Cell | Supervisor, child: Cell, exc: BaseException
) -> tuple[Directive, float, str | None]:
    """Apply ``supervisor``'s strategy to ``child``'s failure: the directive, the backoff
    before a restart, and why it escalates when the restart intensity is exceeded."""
    strategy = supervisor.strategy()
    directive = strategy.decider(exc)
    if directive is not Directive.RESTART:
        return directive, 0.0, None
    if strategy.all_for_one:
        if supervisor.shared_history is None:
            supervisor.shared_history = RestartHistory()
        history = supervisor.shared_history
    else:
        if child.history is None:
            child.history = RestartHistory()
        history = child.history
    earlier = history.record(strategy)
    if earlier is None:
        return (
            Directive.ESCALATE,
            0.0,
            f"{strategy.max_restarts} restarts within {strategy.within_s:g} s exceeded "
            f"(last failure: {type(exc).__name__}: {exc})",
        )
    return Directive.RESTART, strategy.backoff(earlier), None
