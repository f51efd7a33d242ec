"""Death watch: a watcher is told, once, when the actor it watches has stopped, and why."""

from __future__ import annotations

import dataclasses

import anyio

from chiffon.actors import Actor, ActorSystem, Directive, LocalRef, OneForOne, Terminated, handler
from chiffon.actors.testing import Probe

from .support import WAIT_S, Note


@dataclasses.dataclass
class Watch:
    ref: LocalRef


@dataclasses.dataclass
class Unwatch:
    ref: LocalRef


class Ping:
    pass


class Watcher(Probe):
    """A probe that watches (and unwatches) on request; every ``Terminated`` lands in
    ``received``."""

    @handler
    def watch(self, message: Watch) -> None:
        self.context.watch(message.ref)

    @handler
    def unwatch(self, message: Unwatch) -> None:
        self.context.unwatch(message.ref)

    @handler
    def ping(self, message: Ping) -> str:
        return "pong"


class Fragile(Actor):
    """Raises whatever error it is sent in a ``Note``."""

    @handler
    def note(self, message: Note) -> None:
        raise ValueError(message.text)


async def test_a_watcher_is_told_when_the_watched_actor_stops() -> None:
    watcher = Watcher()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            watching = await system.spawn(lambda: watcher)
            target = await system.spawn(Fragile)
            await watching.tell(Watch(target))
            await watching.ask(Ping())
            await target.stop()
            assert await watcher.expect(1) == [Terminated(target, None)]


async def test_a_watcher_of_an_actor_stopped_by_its_failure_is_told_the_cause() -> None:
    watcher = Watcher()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(strategy=OneForOne(decider=lambda exc: Directive.STOP)) as system:
            watching = await system.spawn(lambda: watcher)
            target = await system.spawn(Fragile)
            await watching.ask(Watch(target))
            await target.tell(Note("broken"))
            [notice] = await watcher.expect(1)
            assert notice.ref == target
            assert isinstance(notice.cause, ValueError)
            assert str(notice.cause) == "broken"


async def test_watching_an_actor_that_already_stopped_is_answered_at_once() -> None:
    watcher = Watcher()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            watching = await system.spawn(lambda: watcher)
            target = await system.spawn(Fragile)
            await target.stop()
            await watching.tell(Watch(target))
            assert await watcher.expect(1) == [Terminated(target, None)]


async def test_an_unwatched_actor_stops_without_telling_its_former_watcher() -> None:
    watcher = Watcher()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            watching = await system.spawn(lambda: watcher)
            target = await system.spawn(Fragile)
            await watching.ask(Watch(target))
            await watching.ask(Unwatch(target))
            await target.stop()
            # A notice would be handled before the next message: the ping proves there is none.
            assert await watching.ask(Ping()) == "pong"
            assert watcher.received == []


async def test_every_watcher_of_an_actor_is_told() -> None:
    first, second = Watcher(), Watcher()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            target = await system.spawn(Fragile)
            for watcher in (first, second):
                watching = await system.spawn(lambda w=watcher: w)
                await watching.ask(Watch(target))
            await target.stop()
            assert await first.expect(1) == [Terminated(target, None)]
            assert await second.expect(1) == [Terminated(target, None)]


async def test_an_actor_with_no_terminated_handler_ignores_the_notice() -> None:
    class Indifferent(Actor):
        def __init__(self) -> None:
            self.pings = 0

        @handler
        def watch(self, message: Watch) -> None:
            self.context.watch(message.ref)

        @handler
        def ping(self, message: Ping) -> int:
            self.pings += 1
            return self.pings

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            watching = await system.spawn(Indifferent)
            target = await system.spawn(Fragile)
            await watching.ask(Watch(target))
            assert await watching.ask(Ping()) == 1
            await target.stop()
            assert await watching.ask(Ping()) == 2  # neither failed nor restarted
