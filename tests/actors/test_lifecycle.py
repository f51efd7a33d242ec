"""Lifecycle: spawn and on_start, start failures, the name registry, and stopping in order."""

from __future__ import annotations

import dataclasses
import logging

import anyio
import pytest

from chiffon.actors import (
    Actor,
    ActorNotFound,
    ActorSystem,
    LocalRef,
    NameTaken,
    StartFailed,
    Terminated,
    handler,
)
from chiffon.actors.testing import Probe

from .support import WAIT_S, Gate, Note, until


class Ping:
    pass


class Ponger(Actor):
    @handler
    def ping(self, message: Ping) -> str:
        return "pong"


class Warm(Actor):
    """Its on_start waits for a round trip to another actor before it is ready."""

    def __init__(self, ponger: LocalRef) -> None:
        self.ponger = ponger
        self.ready = False

    async def on_start(self) -> None:
        assert await self.ponger.ask(Ping()) == "pong"
        self.ready = True


@dataclasses.dataclass
class Adopt:
    name: str


class Node(Actor):
    """Spawns children on request and logs its stop into ``events``."""

    def __init__(self, name: str, events: list[str]) -> None:
        self.name = name
        self.events = events

    async def on_stop(self) -> None:
        self.events.append(f"{self.name} stop")

    @handler
    async def adopt(self, message: Adopt) -> LocalRef:
        return await self.context.spawn(type(self), message.name, self.events, name=message.name)


async def test_spawn_returns_only_once_on_start_has_finished() -> None:
    warm = None

    def build(ponger: LocalRef) -> Warm:
        nonlocal warm
        warm = Warm(ponger)
        return warm

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ponger = await system.spawn(Ponger)
            await system.spawn(build, ponger)
            assert warm is not None
            assert warm.ready


async def test_on_start_raising_makes_spawn_raise_start_failed_with_the_cause() -> None:
    class Broken(Actor):
        async def on_start(self) -> None:
            raise OSError("no such device")

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            with pytest.raises(
                StartFailed, match=r"actor chiffon://chiffon/broken failed to start"
            ) as info:
                await system.spawn(Broken, name="broken")
            assert isinstance(info.value.__cause__, OSError)
            assert str(info.value.__cause__) == "no such device"
            with pytest.raises(ActorNotFound):
                system.lookup("broken")
            assert system.actors == []


async def test_a_constructor_raising_makes_spawn_raise_start_failed_with_the_cause() -> None:
    class Picky(Actor):
        def __init__(self, size: int) -> None:
            if size < 0:
                raise ValueError(f"size must not be negative, not {size}")

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            with pytest.raises(
                StartFailed, match=r"actor chiffon://chiffon/picky failed to start"
            ) as info:
                await system.spawn(Picky, -1, name="picky")
            assert isinstance(info.value.__cause__, ValueError)
            assert system.actors == []
            await system.spawn(Picky, 1, name="picky")  # the name was never taken


async def test_a_factory_that_builds_no_actor_is_refused() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            with pytest.raises(TypeError, match="did not build an Actor"):
                await system.spawn(lambda: object())


async def test_the_context_names_the_actor_its_parent_and_its_system() -> None:
    seen: dict[str, object] = {}

    class Curious(Node):
        async def on_start(self) -> None:
            seen[self.name] = (self.context.self_ref, self.context.parent, self.context.system)

    with anyio.fail_after(WAIT_S):
        async with ActorSystem(name="lab") as system:
            parent = await system.spawn(Curious, "parent", [], name="parent")
            child = await parent.ask(Adopt("child"))
            assert child.address == "chiffon://lab/parent/child"
            assert seen == {
                "parent": (parent, None, system),
                "child": (child, parent, system),
            }


async def test_named_actors_are_found_by_name_until_they_stop() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(Ponger, name="ponger")
            assert system.lookup("ponger") is ref
            assert ref.name == "ponger"
            assert ref.address == "chiffon://chiffon/ponger"
            await ref.stop()
            with pytest.raises(ActorNotFound, match="no actor named 'ponger'"):
                system.lookup("ponger")
            again = await system.spawn(Ponger, name="ponger")
            assert system.lookup("ponger") is again
            assert again != ref


async def test_a_name_in_use_anywhere_in_the_system_is_refused() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            await system.spawn(Ponger, name="taken")
            with pytest.raises(NameTaken, match="an actor named 'taken' is already running"):
                await system.spawn(Ponger, name="taken")
            parent = await system.spawn(Node, "parent", [])
            with pytest.raises(NameTaken, match="an actor named 'taken' is already running"):
                await parent.ask(Adopt("taken"))
            child = await parent.ask(Adopt("child"))
            assert system.lookup("child") is child


async def test_an_actor_can_stop_itself_after_the_current_message() -> None:
    class Quitter(Actor):
        @handler
        def quit(self, message: Ping) -> str:
            self.context.stop()
            return "bye"

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(Quitter)
            assert await ref.ask(Ping()) == "bye"
            await until(lambda: not ref.is_alive)


async def test_an_actor_awaiting_its_own_stop_or_its_ancestors_does_not_deadlock() -> None:
    class StopRef(Actor):
        """Stops whatever ref it is sent, awaiting ``ref.stop()``."""

        @handler
        async def stop_it(self, message: LocalRef) -> str:
            await message.stop()
            return "stop requested"

        @handler
        async def adopt(self, message: Adopt) -> LocalRef:
            return await self.context.spawn(StopRef, name=message.name)

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            itself = await system.spawn(StopRef)
            assert await itself.ask(itself) == "stop requested"
            await until(lambda: not itself.is_alive)

            grandparent = await system.spawn(StopRef)
            parent = await grandparent.ask(Adopt("parent"))
            child = await parent.ask(Adopt("child"))
            assert await child.ask(grandparent) == "stop requested"
            await until(lambda: not grandparent.is_alive)
            assert not parent.is_alive
            assert not child.is_alive


async def test_children_stop_before_their_parent_runs_on_stop() -> None:
    events: list[str] = []
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            root = await system.spawn(Node, "root", events)
            child = await root.ask(Adopt("child"))
            await child.ask(Adopt("grandchild"))
            await root.stop()
            assert events == ["grandchild stop", "child stop", "root stop"]
            assert not child.is_alive


async def test_children_stop_before_their_parent_at_shutdown_too() -> None:
    events: list[str] = []
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            root = await system.spawn(Node, "root", events)
            child = await root.ask(Adopt("child"))
            await child.ask(Adopt("grandchild"))
    assert events == ["grandchild stop", "child stop", "root stop"]


async def test_on_stop_raising_is_logged_and_the_actor_stops_all_the_same(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Clumsy(Gate):
        async def on_stop(self) -> None:
            raise RuntimeError("dropped the keys")

    class Watching(Probe):
        @handler
        def watch(self, message: LocalRef) -> None:
            self.context.watch(message)

    watcher = Watching()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            watching = await system.spawn(lambda: watcher)
            clumsy = await system.spawn(Clumsy, name="clumsy")
            await watching.ask(clumsy)
            assert await clumsy.ask(Note("hi")) == "hi"
            with caplog.at_level(logging.ERROR, logger="chiffon.actors"):
                await clumsy.stop()
            assert not clumsy.is_alive
            [notice] = await watcher.expect(1)
            assert isinstance(notice, Terminated)
            assert isinstance(notice.cause, RuntimeError)
    [record] = [r for r in caplog.records if r.name == "chiffon.actors"]
    assert record.getMessage() == "on_stop of chiffon://chiffon/clumsy raised"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "dropped the keys"
