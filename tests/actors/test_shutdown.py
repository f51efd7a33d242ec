"""Shutdown: leaving ``async with ActorSystem()`` drains mailboxes within a deadline, cancels
what is stuck, answers every pending ask, and leaves no task behind."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from chiffon.actors import (
    Actor,
    ActorStopped,
    ActorSystem,
    LocalRef,
    OneForOne,
    StartFailed,
    SystemShutDown,
    handler,
)

from .support import WAIT_S, Gate, Hold, Note, settle, until


class Parent(Gate):
    """A gate that spawns a gate child when sent its name, and keeps the child's instance."""

    def __init__(self) -> None:
        super().__init__()
        self.kids: dict[str, Gate] = {}

    @handler
    async def adopt(self, message: str) -> LocalRef:
        kid = self.kids[message] = Gate()
        return await self.context.spawn(lambda: kid, name=message)


def other_tasks() -> set[asyncio.Task[object]]:
    """Every task of the event loop but the test's own."""
    me = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not me}


async def test_shutdown_handles_every_message_still_queued_before_it_returns() -> None:
    gate, parent = Gate(), Parent()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            top = await system.spawn(lambda: gate)
            under = await system.spawn(lambda: parent)
            child_ref = await under.ask("child")
            for n in range(100):
                top.tell_nowait(Note(f"top {n}"))
                child_ref.tell_nowait(Note(f"child {n}"))
            assert top.statistics().depth == 100
    assert gate.notes == [f"top {n}" for n in range(100)]
    assert parent.kids["child"].notes == [f"child {n}" for n in range(100)]


async def test_an_actor_stuck_past_the_deadline_is_cancelled_and_every_ask_is_answered() -> None:
    gate, never = Gate(), anyio.Event()
    outcomes: dict[str, str] = {}

    async def ask(ref: LocalRef, label: str, message: object) -> None:
        try:
            outcomes[label] = await ref.ask(message, timeout=60)
        except ActorStopped as exc:
            outcomes[label] = str(exc)

    with anyio.fail_after(WAIT_S):
        async with (
            anyio.create_task_group() as askers,  # outlives the system: sees every answer
            ActorSystem(shutdown_deadline_s=0.05) as system,
        ):
            stuck = await system.spawn(lambda: gate, name="stuck")
            askers.start_soon(ask, stuck, "in the handler", Hold(never))
            await gate.holding.wait()
            askers.start_soon(ask, stuck, "queued", Note("never handled"))
            await until(lambda: stuck.statistics().depth == 1)
        assert not stuck.is_alive
    assert outcomes == {
        "in the handler": "actor chiffon://chiffon/stuck has stopped: while handling this message",
        "queued": "actor chiffon://chiffon/stuck has stopped: before handling this message",
    }
    assert gate.notes == []


async def test_no_actor_task_outlives_the_system_block() -> None:
    never = anyio.Event()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(shutdown_deadline_s=0.05) as system:
            await system.spawn(Gate)  # idle, never ran
            busy = await system.spawn(Gate)
            await busy.ask(Note("awake"))  # idle, has run
            parent = await system.spawn(Parent)
            child = await parent.ask("child")
            await child.ask(Note("awake"))
            stuck = await system.spawn(Gate)
            stuck.tell_nowait(Hold(never))  # stuck until cancelled
            await settle()
            assert {t.get_name() for t in other_tasks()} >= {
                "chiffon://chiffon/$2",
                "chiffon://chiffon/$3",
                "chiffon://chiffon/$3/child",
                "chiffon://chiffon/$4",
            }
    assert other_tasks() == set()
    assert system.actors == []


async def test_the_block_raises_the_bodys_exception_after_stopping_every_actor() -> None:
    events: list[str] = []

    class Tidy(Actor):
        async def on_stop(self) -> None:
            events.append("stopped")

    refs: list[LocalRef] = []

    async def scenario() -> None:
        async with ActorSystem() as system:
            refs.append(await system.spawn(Tidy))
            raise RuntimeError("the body failed")

    with anyio.fail_after(WAIT_S), pytest.raises(RuntimeError, match="the body failed"):
        await scenario()
    assert events == ["stopped"]
    assert not refs[0].is_alive


async def test_spawn_after_shutdown_raises_system_shut_down() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(Gate)
        with pytest.raises(SystemShutDown, match="the actor system has shut down"):
            await system.spawn(Gate)
        with pytest.raises(ActorStopped):
            await ref.tell(Note("anyone?"))


async def test_a_spawn_waiting_for_on_start_at_shutdown_fails_instead_of_hanging() -> None:
    class Sluggish(Actor):
        async def on_start(self) -> None:
            await anyio.sleep_forever()

    failures: list[BaseException] = []

    async def spawn() -> None:
        try:
            await system.spawn(Sluggish)
        except StartFailed as exc:
            failures.append(exc)

    with anyio.fail_after(WAIT_S):
        async with (
            anyio.create_task_group() as spawners,
            ActorSystem(shutdown_deadline_s=0.05) as system,
        ):
            spawners.start_soon(spawn)
            await settle()
    [failure] = failures
    assert str(failure) == "actor chiffon://chiffon/$1 failed to start"
    assert isinstance(failure.__cause__, SystemShutDown)


async def test_an_actor_failing_as_the_system_drains_is_stopped_not_restarted_to_failure() -> None:
    class Spawner(Actor):
        """Spawns a child per message: refused once the system shuts down."""

        starts = 0

        async def on_start(self) -> None:
            type(self).starts += 1

        @handler
        async def spawn_one(self, message: Note) -> None:
            await self.context.spawn(Gate)

    with anyio.fail_after(WAIT_S):
        # Restart is the directive; had the failures during the drain been restarted, the
        # intensity (2 within a minute) would have escalated a clean stop into a failure.
        async with ActorSystem(strategy=OneForOne(max_restarts=2, within_s=60)) as system:
            ref = await system.spawn(Spawner)
            for n in range(5):
                ref.tell_nowait(Note(str(n)))
            # Leaving the block drains the five: each spawn is refused (SystemShutDown).
    assert Spawner.starts == 1
