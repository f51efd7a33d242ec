"""ActorRef: the only way to reach an actor, in this process (``LocalRef``) or, through an
adapter's subclass (the bridge's ``RemoteRef``), another."""

from __future__ import annotations

import abc
import asyncio
from typing import TYPE_CHECKING, Any

from chiffon.actors.current import current_cell
from chiffon.actors.envelope import Envelope, _kinds, kind_of, new_id, outgoing
from chiffon.actors.errors import ActorStopped, AskTimeout, MailboxFull, SyncSendNeedsAwait
from chiffon.actors.journal import Durability
from chiffon.actors.mailbox import MailboxClosed, MailboxStatistics

if TYPE_CHECKING:
    from chiffon.actors.cell import Cell

DEFAULT_ASK_TIMEOUT_S = 5.0

_current = current_cell.get


class ActorRef(abc.ABC):
    """An address you can send to. Local and remote refs have this same interface."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def address(self) -> str:
        """A stable, printable name of the actor (``chiffon://system/parent/child``)."""

    @abc.abstractmethod
    async def tell(self, message: Any, *, sender: ActorRef | None = None) -> None:
        """Send ``message``; waits while the mailbox is full (backpressure).

        For a kind journaled with sync durability, returns once the record is committed,
        and the actor sees the message only after the commit. Raises ``ActorStopped`` if the
        actor has stopped (also when it stops while this send waits for room);
        ``UnencodableBody`` / ``JournalUnavailable`` from the journal.
        """

    @abc.abstractmethod
    def tell_nowait(self, message: Any, *, sender: ActorRef | None = None) -> None:
        """Send without waiting. Raises ``MailboxFull`` when the mailbox is at capacity,
        ``ActorStopped``, ``SyncSendNeedsAwait`` for a sync-durability kind, and
        ``UnencodableBody`` from the journal."""

    @abc.abstractmethod
    async def ask(
        self,
        message: Any,
        *,
        timeout: float = DEFAULT_ASK_TIMEOUT_S,
        sender: ActorRef | None = None,
    ) -> Any:
        """Send ``message`` and return the handler's return value. ``sender`` is what the
        handler sees as ``context.sender`` (by default the asking actor, if any).

        Raises ``AskTimeout`` after ``timeout`` seconds (the message may still be handled);
        ``ActorStopped`` if the actor stops before answering, including while the message
        is still queued; the handler's own exception if it raised; ``NoHandler``.
        """


class LocalRef(ActorRef):
    """A ref to an actor in this process. One per actor; compare refs with ``==``."""

    __slots__ = ("_cell", "_journal", "_mailbox")

    def __init__(self, cell: Cell) -> None:
        self._cell = cell
        # Read on every send: kept here rather than reached through cell and system.
        self._mailbox = cell.mailbox
        self._journal = cell.system.journal

    @property
    def address(self) -> str:
        return self._cell.address

    @property
    def name(self) -> str:
        return self._cell.name

    @property
    def is_alive(self) -> bool:
        return not self._cell.stopped

    def statistics(self) -> MailboxStatistics:
        """The actor's mailbox statistics: depth, high-water mark, counts."""
        return self._cell.mailbox.statistics()

    def _journaled(self, cls: type) -> Durability:
        """How a send of ``cls`` is journaled; refuses a stopped actor first, so that a send
        that raises leaves no record behind."""
        durability = self._cell.system.durability_of(cls)
        if durability is not Durability.TRANSIENT and self._mailbox.closed:
            raise ActorStopped(self._cell.address)
        return durability

    async def tell(self, message: Any, *, sender: ActorRef | None = None) -> None:
        # The hot path of every in-process message: the envelope is built inline when the
        # send does not come from a handler, the journal and mailbox are read off the ref.
        cls = type(message)
        if _current() is None:
            env = Envelope(new_id(), _kinds.get(cls) or kind_of(cls), message, self, sender)
        else:
            env = outgoing(self, message, sender)
        journal = self._journal
        if journal is not None:
            durability = self._journaled(cls)
            if durability is Durability.SYNC:
                await journal.append(env)
            elif durability is Durability.ASYNC:
                journal.append_nowait(env)
        mailbox = self._mailbox
        try:
            if not mailbox.put_nowait(env):
                await mailbox.put(env)
        except MailboxClosed:
            raise ActorStopped(self._cell.address) from None
        if self._cell.task is None:
            self._cell.activate()

    def tell_nowait(self, message: Any, *, sender: ActorRef | None = None) -> None:
        env = outgoing(self, message, sender)
        cell = self._cell
        mailbox = self._mailbox
        journal = self._journal
        if journal is not None:
            durability = self._journaled(type(message))
            if durability is Durability.SYNC:
                raise SyncSendNeedsAwait(env.kind)
            if durability is Durability.ASYNC:
                if len(mailbox.buffer) >= mailbox.capacity:  # refuse before journaling
                    raise MailboxFull(cell.address, mailbox.capacity)
                journal.append_nowait(env)
        try:
            if not mailbox.put_nowait(env):
                raise MailboxFull(cell.address, mailbox.capacity)
        except MailboxClosed:
            raise ActorStopped(cell.address) from None
        if cell.task is None:
            cell.activate()

    async def ask(
        self,
        message: Any,
        *,
        timeout: float = DEFAULT_ASK_TIMEOUT_S,
        sender: ActorRef | None = None,
    ) -> Any:
        cell = self._cell
        system = cell.system
        reply = system.new_future()
        env = outgoing(self, message, sender, reply)
        journal = self._journal
        if journal is not None:
            durability = self._journaled(type(message))
            if durability is Durability.SYNC:
                await journal.append(env)
            elif durability is Durability.ASYNC:
                journal.append_nowait(env)
        try:
            if not self._mailbox.put_nowait(env):
                return await self._ask_when_full(env, timeout)
        except MailboxClosed:
            raise ActorStopped(cell.address) from None
        if cell.task is None:
            cell.activate()
        system.ask_deadlines.add(reply, timeout, cell.address, env.kind)
        return await reply

    async def _ask_when_full(self, env: Envelope, timeout: float) -> Any:
        """The slow path of ``ask``: the timeout covers the wait for room as well as the
        answer. Raises ``MailboxClosed`` when the actor stops while this waits for room."""
        cell = self._cell
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                await cell.mailbox.put(env)
                if cell.task is None:
                    cell.activate()
                return await env.reply
        except TimeoutError:
            if scope.expired():
                raise AskTimeout(cell.address, env.kind, timeout) from None
            raise  # the handler's own TimeoutError

    async def stop(self) -> None:
        """Stop the actor once its current message is handled, and wait until it has.

        Messages still queued are not handled: their asks fail with ``ActorStopped``.
        Called by the actor itself or one of its descendants, it only requests the stop (the
        caller's own handler must return first, so waiting would deadlock).
        """
        await self._cell.stop_and_wait()

    def __repr__(self) -> str:
        return f"<LocalRef {self.address}>"
