"""Timers owned by the runtime: ``context.send_after`` and ``context.send_every``.

Time is a ``ManualClock`` given to the system: a timer fires when the test advances the
clock past it, so every assertion is about order, replacement and cancellation, none about
how long anything took.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio

from chiffon.actors import Actor, ActorRef, ActorSystem, handler
from chiffon.actors.testing import ManualClock

from .support import settle, until


@dataclasses.dataclass(frozen=True)
class Tick:
    tag: str


@dataclasses.dataclass(frozen=True)
class After:
    """Arm a one-shot timer: ``tick`` in ``delay`` seconds under ``key``."""

    delay: float
    tick: Tick
    key: str | None = None


@dataclasses.dataclass(frozen=True)
class Every:
    interval: float
    tick: Tick


@dataclasses.dataclass(frozen=True)
class Cancel:
    key: Any


@dataclasses.dataclass(frozen=True)
class Busy:
    """Hold the actor in a handler until ``release`` is set, then cancel ``cancel`` if given."""

    release: anyio.Event
    cancel: Any = None


class Fail:
    pass


class Timed(Actor):
    """Arms timers on request and records what it handles (and who sent the ticks)."""

    def __init__(self, seen: list[str], *, every: Every | None = None) -> None:
        self.seen = seen
        self.every = every
        self.senders: list[ActorRef | None] = []
        self.busy = anyio.Event()
        self.cancelled: list[bool] = []

    async def on_start(self) -> None:
        if self.every is not None:
            self.context.send_every(self.every.interval, self.every.tick)

    @handler
    def after(self, message: After) -> None:
        self.context.send_after(message.delay, message.tick, key=message.key)

    @handler
    def every_(self, message: Every) -> None:
        self.context.send_every(message.interval, message.tick)

    @handler
    def cancel(self, message: Cancel) -> None:
        self.cancelled.append(self.context.cancel_timer(message.key))

    @handler
    async def hold(self, message: Busy) -> None:
        self.seen.append("busy")
        self.busy.set()
        await message.release.wait()
        if message.cancel is not None:
            self.cancelled.append(self.context.cancel_timer(message.cancel))

    @handler
    def tick(self, message: Tick) -> None:
        self.seen.append(message.tag)
        self.senders.append(self.context.sender)

    @handler
    def fail(self, _: Fail) -> None:
        raise ValueError("boom")


class SlowTicks(Timed):
    """Its tick handler waits for ``release`` the first time."""

    def __init__(self, seen: list[str], release: anyio.Event) -> None:
        super().__init__(seen)
        self.release = release

    @handler
    async def slow_tick(self, message: Tick) -> None:  # replaces Timed.tick: subclass wins
        self.seen.append(message.tag)
        if len(self.seen) == 1:
            self.busy.set()
            await self.release.wait()


async def test_a_message_is_sent_once_its_delay_has_passed_and_not_before() -> None:
    clock = ManualClock()
    seen: list[str] = []
    async with ActorSystem(clock=clock) as system:
        actor = Timed(seen)
        ref = await system.spawn(lambda: actor)
        await ref.ask(After(5.0, Tick("late"), key="late"))
        await ref.ask(After(2.0, Tick("early"), key="early"))
        clock.advance(1.0)
        await settle()
        assert seen == []
        clock.advance(1.0)
        await until(lambda: seen == ["early"])
        clock.advance(3.0)
        await until(lambda: seen == ["early", "late"])
        assert actor.senders == [ref, ref]  # a timer sends as the actor itself


async def test_arming_a_key_again_replaces_its_timer() -> None:
    clock = ManualClock()
    seen: list[str] = []
    async with ActorSystem(clock=clock) as system:
        ref = await system.spawn(lambda: Timed(seen))
        await ref.ask(After(5.0, Tick("first"), key="k"))
        await ref.ask(After(5.0, Tick("second"), key="k"))
        await ref.ask(After(5.0, Tick("other")))  # its own key: Tick, the message's class
        clock.advance(5.0)
        await until(lambda: len(seen) == 2)
        await settle()
        assert seen == ["second", "other"]


async def test_the_default_key_is_the_message_class() -> None:
    clock = ManualClock()
    seen: list[str] = []
    async with ActorSystem(clock=clock) as system:
        actor = Timed(seen)
        ref = await system.spawn(lambda: actor)
        await ref.ask(After(5.0, Tick("replaced")))
        await ref.ask(After(5.0, Tick("kept")))
        await ref.ask(Cancel("nothing armed under this key"))
        clock.advance(5.0)
        await until(lambda: seen == ["kept"])
        await ref.ask(Cancel(Tick))
        assert actor.cancelled == [False, True]


async def test_a_cancelled_timer_never_sends() -> None:
    clock = ManualClock()
    seen: list[str] = []
    async with ActorSystem(clock=clock) as system:
        actor = Timed(seen)
        ref = await system.spawn(lambda: actor)
        await ref.ask(After(5.0, Tick("cancelled"), key="a"))
        await ref.ask(After(5.0, Tick("kept"), key="b"))
        await ref.ask(Cancel("a"))
        assert clock.sleeping == 1
        # The two would fire in the order armed: "kept" arriving alone shows "cancelled" never
        # was sent.
        clock.advance(5.0)
        await until(lambda: seen == ["kept"])
        assert actor.cancelled == [True]


async def test_cancelling_withdraws_a_message_already_queued() -> None:
    clock = ManualClock()
    seen: list[str] = []
    release = anyio.Event()
    async with ActorSystem(clock=clock) as system:
        actor = Timed(seen)
        ref = await system.spawn(lambda: actor)
        await ref.ask(After(1.0, Tick("withdrawn"), key="t"))
        await ref.tell(Busy(release, cancel="t"))
        await actor.busy.wait()
        clock.advance(1.0)
        await until(lambda: ref.statistics().depth == 1)  # the tick is queued behind Busy
        await ref.tell(Tick("after"))
        release.set()  # Busy's handler now cancels "t"
        await until(lambda: "after" in seen)
        assert seen == ["busy", "after"]
        assert actor.cancelled == [True]
        assert ref.statistics().processed == ref.statistics().received


async def test_a_full_mailbox_delays_a_timers_message_and_keeps_the_order() -> None:
    clock = ManualClock()
    seen: list[str] = []
    release = anyio.Event()
    async with ActorSystem(clock=clock) as system:
        actor = Timed(seen)
        ref = await system.spawn(lambda: actor, capacity=1)
        await ref.ask(After(1.0, Tick("timer")))
        await ref.tell(Busy(release))
        await actor.busy.wait()
        await ref.tell(Tick("queued first"))  # the mailbox (capacity 1) is full now
        clock.advance(1.0)
        await until(lambda: ref.statistics().waiting_senders == 1)  # the timer waits for room
        release.set()
        await until(lambda: len(seen) == 3)
        assert seen == ["busy", "queued first", "timer"]


async def test_a_periodic_timer_sends_until_cancelled() -> None:
    clock = ManualClock()
    seen: list[str] = []
    async with ActorSystem(clock=clock) as system:
        actor = Timed(seen)
        ref = await system.spawn(lambda: actor)
        await ref.ask(Every(2.0, Tick("tick")))
        for count in (1, 2, 3):
            clock.advance(2.0)
            await until(lambda count=count: len(seen) == count)  # type: ignore[misc]
        await ref.ask(Cancel(Tick))
        assert clock.sleeping == 0
        clock.advance(2.0)
        await settle()
        assert seen == ["tick"] * 3


async def test_a_periodic_timer_sends_no_tick_while_the_last_one_is_being_handled() -> None:
    clock = ManualClock()
    seen: list[str] = []
    release = anyio.Event()
    async with ActorSystem(clock=clock) as system:
        actor = SlowTicks(seen, release)
        ref = await system.spawn(lambda: actor)
        await ref.ask(Every(1.0, Tick("tick")))
        clock.advance(1.0)
        await actor.busy.wait()
        for _ in range(3):  # three intervals pass while the first tick is handled
            clock.advance(1.0)
            await settle()
        assert ref.statistics().depth == 0
        release.set()
        await until(lambda: ref.statistics().processed == 2)  # Every, then the first tick
        clock.advance(1.0)
        await until(lambda: len(seen) == 2)
        await settle()
        assert seen == ["tick", "tick"]


async def test_timers_are_cancelled_when_the_actor_stops() -> None:
    clock = ManualClock()
    seen: list[str] = []
    async with ActorSystem(clock=clock) as system:
        ref = await system.spawn(lambda: Timed(seen))
        await ref.ask(After(5.0, Tick("one-shot"), key="a"))
        await ref.ask(Every(1.0, Tick("periodic")))
        assert clock.sleeping == 2
        await ref.stop()
        assert clock.sleeping == 0
        clock.advance(5.0)
        await settle()
        assert seen == []


async def test_a_restart_cancels_the_failed_instances_timers() -> None:
    clock = ManualClock()
    seen: list[str] = []
    async with ActorSystem(clock=clock) as system:
        ref = await system.spawn(lambda: Timed(seen, every=Every(1.0, Tick("tick"))))
        await ref.ask(After(3.0, Tick("armed before the failure"), key="old"))
        assert clock.sleeping == 2
        await ref.tell(Fail())
        # The fresh instance armed its own periodic timer in on_start; the old ones are gone.
        await until(lambda: clock.sleeping == 1)
        clock.advance(3.0)
        await until(lambda: seen == ["tick"])
        await settle()
        assert seen == ["tick"]
