"""The ``Actor`` base class and the context it runs in."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, ClassVar

from chiffon.actors.supervision import OneForOne, SupervisorStrategy
from chiffon.actors.timers import Timers

if TYPE_CHECKING:
    from chiffon.actors.cell import Cell
    from chiffon.actors.envelope import Envelope
    from chiffon.actors.ref import ActorRef, LocalRef
    from chiffon.actors.system import ActorSystem


class ActorContext:
    """What an actor knows of its place in the system: its own ref, its parent, the message
    being handled, and how to spawn, watch and stop. Available as ``self.context`` from
    ``on_start`` on."""

    __slots__ = ("_cell",)

    def __init__(self, cell: Cell) -> None:
        self._cell = cell

    @property
    def self_ref(self) -> LocalRef:
        return self._cell.ref

    @property
    def system(self) -> ActorSystem:
        return self._cell.system

    @property
    def parent(self) -> LocalRef | None:
        parent = self._cell.parent
        return None if parent is None else parent.ref

    @property
    def envelope(self) -> Envelope | None:
        """The envelope being handled, or ``None`` outside a handler."""
        return self._cell.current

    @property
    def sender(self) -> ActorRef | None:
        """The ref that sent the message being handled, when it was sent from an actor."""
        env = self._cell.current
        return None if env is None else env.sender

    @property
    def children(self) -> list[LocalRef]:
        return [child.ref for child in self._cell.children.values()]

    async def spawn(
        self,
        factory: type[Actor] | Any,
        *args: Any,
        name: str | None = None,
        capacity: int | None = None,
        **kwargs: Any,
    ) -> LocalRef:
        """Spawn a child supervised by this actor; returns once its ``on_start`` finished.

        Raises ``StartFailed`` (cause chained) when the child's ``on_start`` raises,
        ``NameTaken``, ``SystemShutDown``.
        """
        return await self._cell.system.spawn_under(
            self._cell, factory, args, kwargs, name=name, capacity=capacity
        )

    def watch(self, ref: LocalRef) -> None:
        """Be sent ``Terminated(ref, cause)`` when ``ref``'s actor stops (at once if it has)."""
        self._cell.system.watch(self._cell, ref)

    def unwatch(self, ref: LocalRef) -> None:
        """Stop watching ``ref``; a ``Terminated`` already queued may still arrive."""
        self._cell.system.unwatch(self._cell, ref)

    def stop(self) -> None:
        """Stop this actor once the current message is handled."""
        self._cell.request_stop(drain=False)

    # -- timers (see chiffon.actors.timers) ----------------------------------------------

    def send_after(self, delay: float, message: Any, *, key: Hashable | None = None) -> None:
        """Send ``message`` to this actor in ``delay`` seconds. ``key`` (default: the
        message's class) names the timer: arming a key again replaces its timer, and
        ``cancel_timer(key)`` cancels it. The timer is cancelled when the actor stops or
        restarts; a full mailbox delays its message, never loses it."""
        name: object = type(message) if key is None else key
        self._timers().start(name, message, delay, None)

    def send_every(
        self,
        interval: float,
        message: Any,
        *,
        key: Hashable | None = None,
        first: float | None = None,
    ) -> None:
        """Send ``message`` to this actor every ``interval`` seconds, the first time after
        ``first`` seconds (default: ``interval``). No tick is sent while the previous one is
        still queued or being handled. Keys, replacing and cancelling as ``send_after``."""
        name: object = type(message) if key is None else key
        self._timers().start(name, message, interval if first is None else first, interval)

    def cancel_timer(self, key: Hashable) -> bool:
        """Cancel the timer named ``key``; its message, if queued and not yet handled, is
        withdrawn, so the actor never sees it. ``False`` when ``key`` names no timer."""
        timers = self._cell.timers
        return timers is not None and timers.cancel(key)

    def _timers(self) -> Timers:
        cell = self._cell
        if cell.timers is None:
            cell.timers = Timers(cell, cell.system.clock)
        return cell.timers


class Actor:
    """Base class of every actor: subclass it and mark handlers with ``@handler``.

    One message is handled at a time per actor, so handlers may use instance state freely.
    An exception escaping a handler is answered to an asker, then given to ``on_failure``
    when the actor overrides it, otherwise to the parent's ``supervisor_strategy`` (resume,
    restart, stop or escalate).

    Lifecycle hooks (all optional, ``async``):

    - ``on_start()`` runs in the actor's own task before the first message; ``spawn`` returns
      once it finished. If it raises, the actor never runs, its mailbox is closed and
      ``spawn`` raises ``StartFailed`` with the exception as ``__cause__`` (no restart:
      a start that fails is the caller's to handle).
    - ``on_stop()`` runs once the actor stops for good (a stop, a STOP directive, a shutdown
      within its deadline), after its children have stopped, before watchers are told.
      An exception from it is logged and becomes the stop's cause; the actor is stopped
      all the same. It does not run when the actor is cancelled at a shutdown deadline.
    - ``on_failure(error, message)`` runs when a handler raised ``error`` while handling
      ``message`` (after an asker got ``error``; ``context.envelope`` is still that
      message's). An actor that deals with its failures in one place overrides it instead
      of wrapping each handler in try/except: returning means dealt with (the actor goes on
      to its next message, or stops if the hook called ``context.stop()``); raising hands
      what it raised to the supervisor. Not called for ``on_start``/``on_restart``/
      ``on_stop`` failures, nor for a message no handler takes (``NoHandler``).
    - ``on_restart(cause)`` runs on the *new* instance when a RESTART directive replaced a
      failed one (after ``on_stop`` of the old instance); by default it calls ``on_start``.
      If it raises, that is a new failure handed to the supervisor, counting toward the
      restart intensity; the instance whose ``on_restart`` raised is the one whose
      ``on_stop`` runs at the next restart or stop.
    """

    supervisor_strategy: ClassVar[SupervisorStrategy] = OneForOne()
    """How this actor treats the failures of its children."""

    context: ActorContext

    async def on_start(self) -> None:
        """Called before the first message. See the class docstring for failure behaviour."""

    async def on_stop(self) -> None:
        """Called when the actor stops for good. See the class docstring."""

    async def on_failure(self, error: Exception, message: Any) -> None:
        """Called when a handler raised; see the class docstring. By default the failure
        goes to the supervisor (this default is never called: the runtime skips it)."""
        raise error

    async def on_restart(self, cause: BaseException) -> None:
        """Called on the fresh instance after a restart; by default calls ``on_start``."""
        await self.on_start()
