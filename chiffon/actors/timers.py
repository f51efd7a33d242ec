"""An actor's timers: messages it sends itself later (``send_after``) or every so often
(``send_every``), owned by the runtime.

Each timer is a task of the actor's system that sleeps on the system's clock, then tells the
actor its message. What the hand-rolled timers each handled (or did not) is decided here,
once:

- **Keys.** A timer has a key (by default its message's class); arming a key again replaces
  the timer it had. ``cancel_timer(key)`` stops one.
- **Withdrawn, not merely unarmed.** Cancelling or replacing a timer also takes its message
  out of the mailbox when it is already queued there, so an actor never handles a message
  of a timer it cancelled and needs no generation counters to spot stale ones.
- **Backpressure.** A timer that fires into a full mailbox waits for room, as an awaited
  ``tell`` does: its message is late, never lost, and nothing raises ``MailboxFull`` into a
  callback. A periodic timer sends no tick while its previous one is still queued or being
  handled: a slow actor gets ticks no faster than it handles them, and never a burst.
- **Lifetime.** Every timer of an actor is cancelled when it stops and when it restarts (the
  fresh instance arms its own in ``on_restart``/``on_start``). A timer sends as the actor
  itself: ``context.sender`` is its own ref.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from chiffon.actors.errors import ActorStopped, MailboxFull, SyncSendNeedsAwait

if TYPE_CHECKING:
    from chiffon.actors.cell import Cell
    from chiffon.actors.supervision import Clock

log = logging.getLogger("chiffon.actors")


class Timers:
    """The timers of one actor (its cell's ``timers``), by key. A one-shot timer that fired
    stays listed until its key is armed again or cancelled, so that cancelling it still
    withdraws its message if that is not handled yet."""

    __slots__ = ("_armed", "_cell", "_clock")

    def __init__(self, cell: Cell, clock: Clock) -> None:
        self._cell = cell
        self._clock = clock
        self._armed: dict[object, tuple[asyncio.Task[None], Any]] = {}

    def start(self, key: object, message: Any, delay: float, interval: float | None) -> None:
        """Arm ``key``: ``message`` after ``delay`` seconds, then every ``interval`` seconds
        when given. An earlier timer of ``key`` is cancelled (and its message withdrawn)."""
        self.cancel(key)
        task = self._cell.system.start_task(self._run(key, message, delay, interval), self._cell)
        if task is not None:  # None: the system is shutting down
            self._armed[key] = (task, message)

    def cancel(self, key: object) -> bool:
        """Cancel ``key``'s timer and withdraw its message if queued; ``False`` when ``key``
        has no timer."""
        armed = self._armed.pop(key, None)
        if armed is None:
            return False
        task, message = armed
        task.cancel()
        mailbox = self._cell.mailbox
        for env in mailbox.buffer:
            if env.body is message:
                mailbox.withdraw(env)
                break
        return True

    def cancel_all(self) -> None:
        for key in list(self._armed):
            self.cancel(key)

    async def _run(self, key: object, message: Any, delay: float, interval: float | None) -> None:
        try:
            await self._clock.sleep(max(delay, 0.0))
            await self._send(message)
            while interval is not None:
                await self._clock.sleep(interval)
                if not self._pending(message):
                    await self._send(message)
        except ActorStopped:
            pass  # it is stopping, and its timers with it
        except Exception:
            log.exception("timer %r of %s could not send its message", key, self._cell.address)

    async def _send(self, message: Any) -> None:
        """The one place a timer meets a full mailbox: it waits for room."""
        ref = self._cell.ref
        try:
            ref.tell_nowait(message, sender=ref)
        except (MailboxFull, SyncSendNeedsAwait):
            await ref.tell(message, sender=ref)

    def _pending(self, message: Any) -> bool:
        """Whether ``message`` (a periodic timer's tick) is still queued or being handled."""
        cell = self._cell
        current = cell.current
        if current is not None and current.body is message:
            return True
        return any(env.body is message for env in cell.mailbox.buffer)
