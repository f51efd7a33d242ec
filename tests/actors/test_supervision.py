"""Supervision: every directive, both strategies, restart intensity, backoff, and what reaches
the root."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import anyio
import pytest

from chiffon.actors import (
    Actor,
    ActorStopped,
    ActorSystem,
    Directive,
    Escalated,
    LocalRef,
    OneForAll,
    OneForOne,
    SupervisorStrategy,
    handler,
)
from chiffon.actors.testing import ManualClock

from .support import WAIT_S, settle, until


class Bump:
    """Count one more; answered with the count so far."""


@dataclasses.dataclass
class Fail:
    error: Exception


@dataclasses.dataclass
class Adopt:
    """Ask a ``Parent`` to spawn a ``Worker`` child with this tag."""

    tag: str


class Worker(Actor):
    """Counts bumps, fails on demand, and logs its lifecycle into ``events``."""

    def __init__(self, tag: str, events: list[str]) -> None:
        self.tag = tag
        self.events = events
        self.count = 0

    async def on_start(self) -> None:
        self.events.append(f"{self.tag} start")

    async def on_stop(self) -> None:
        self.events.append(f"{self.tag} stop")

    async def on_restart(self, cause: BaseException) -> None:
        self.events.append(f"{self.tag} restart after {cause!r}")

    @handler
    def bump(self, message: Bump) -> int:
        self.count += 1
        return self.count

    @handler
    def fail(self, message: Fail) -> None:
        raise message.error


class Parent(Actor):
    """Spawns ``Worker`` children on request; logs its own restarts and stop."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def on_stop(self) -> None:
        self.events.append("parent stop")

    async def on_restart(self, cause: BaseException) -> None:
        self.events.append(f"parent restart after {cause}")

    @handler
    async def adopt(self, message: Adopt) -> LocalRef:
        return await self.context.spawn(Worker, message.tag, self.events, name=message.tag)


def always(directive: Directive) -> Callable[[BaseException], Directive]:
    return lambda exc: directive


def supervising(strategy: SupervisorStrategy) -> type[Parent]:
    """A ``Parent`` class that applies ``strategy`` to its children."""
    return type("Parent", (Parent,), {"supervisor_strategy": strategy})


# -- directives ---------------------------------------------------------------------------


async def test_resume_keeps_the_instance_and_its_state() -> None:
    events: list[str] = []
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(strategy=OneForOne(decider=always(Directive.RESUME))) as system:
            worker = await system.spawn(Worker, "w", events)
            assert await worker.ask(Bump()) == 1
            with pytest.raises(ValueError, match="boom"):
                await worker.ask(Fail(ValueError("boom")))
            assert await worker.ask(Bump()) == 2
            assert events == ["w start"]


async def test_restart_makes_a_fresh_instance_after_on_stop_and_keeps_the_mailbox() -> None:
    events: list[str] = []
    instances: list[Worker] = []

    def build() -> Worker:
        instances.append(Worker("w", events))
        return instances[-1]

    with anyio.fail_after(WAIT_S):
        async with ActorSystem(strategy=OneForOne(decider=always(Directive.RESTART))) as system:
            worker = await system.spawn(build)
            assert await worker.ask(Bump()) == 1
            worker.tell_nowait(Fail(ValueError("boom")))
            worker.tell_nowait(Bump())  # queued behind the failure: handled by the new instance
            assert await worker.ask(Bump()) == 2
            assert worker.is_alive
    assert len(instances) == 2
    assert instances[0].count == 1
    assert instances[1].count == 2
    assert events == ["w start", "w stop", "w restart after ValueError('boom')", "w stop"]


async def test_the_default_strategy_restarts_an_actor_whose_handler_raised() -> None:
    events: list[str] = []
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            worker = await system.spawn(Worker, "w", events)
            await worker.ask(Bump())
            with pytest.raises(KeyError):
                await worker.ask(Fail(KeyError("missing")))
            assert await worker.ask(Bump()) == 1
            assert events == ["w start", "w stop", "w restart after KeyError('missing')"]


async def test_stop_stops_the_actor_and_fails_the_asks_queued_behind_the_failure() -> None:
    events: list[str] = []
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(strategy=OneForOne(decider=always(Directive.STOP))) as system:
            worker = await system.spawn(Worker, "w", events, name="w")
            worker.tell_nowait(Fail(ValueError("boom")))
            with pytest.raises(ActorStopped, match="before handling this message"):
                await worker.ask(Bump())
            await until(lambda: not worker.is_alive)
            assert events == ["w start", "w stop"]
            assert system.actors == []


async def test_escalate_stops_the_child_and_fails_its_parent_with_escalated() -> None:
    events: list[str] = []
    parent_class = supervising(OneForOne(decider=always(Directive.ESCALATE)))
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            parent = await system.spawn(parent_class, events, name="parent")
            child = await parent.ask(Adopt("w"))
            with pytest.raises(ValueError, match="boom"):
                await child.ask(Fail(ValueError("boom")))
            await until(lambda: any(e.startswith("parent restart") for e in events))
            assert not child.is_alive
            assert parent.is_alive
            assert events == [
                "w start",
                "w stop",
                "parent stop",
                "parent restart after chiffon://chiffon/parent/w escalated: ValueError: boom",
            ]


# -- one-for-one and one-for-all ----------------------------------------------------------


async def test_one_for_one_restarts_only_the_failing_child() -> None:
    events: list[str] = []
    parent_class = supervising(OneForOne())
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            parent = await system.spawn(parent_class, events)
            a = await parent.ask(Adopt("a"))
            b = await parent.ask(Adopt("b"))
            await a.ask(Bump())
            await b.ask(Bump())
            with pytest.raises(ValueError, match="boom"):
                await a.ask(Fail(ValueError("boom")))
            assert await a.ask(Bump()) == 1
            assert await b.ask(Bump()) == 2
            assert events == ["a start", "b start", "a stop", "a restart after ValueError('boom')"]


async def test_one_for_all_restarts_every_child_when_one_fails() -> None:
    events: list[str] = []
    parent_class = supervising(OneForAll())
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            parent = await system.spawn(parent_class, events)
            a = await parent.ask(Adopt("a"))
            b = await parent.ask(Adopt("b"))
            await a.ask(Bump())
            await b.ask(Bump())
            with pytest.raises(ValueError, match="boom"):
                await a.ask(Fail(ValueError("boom")))
            await until(lambda: "b restart after ValueError('boom')" in events)
            assert await a.ask(Bump()) == 1
            assert await b.ask(Bump()) == 1
            assert sorted(events[2:]) == [
                "a restart after ValueError('boom')",
                "a stop",
                "b restart after ValueError('boom')",
                "b stop",
            ]


async def test_one_for_all_stops_every_child_when_the_directive_is_stop() -> None:
    events: list[str] = []
    parent_class = supervising(OneForAll(decider=always(Directive.STOP)))
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            parent = await system.spawn(parent_class, events)
            a = await parent.ask(Adopt("a"))
            b = await parent.ask(Adopt("b"))
            a.tell_nowait(Fail(ValueError("boom")))
            await until(lambda: not a.is_alive and not b.is_alive)
            assert parent.is_alive
            assert sorted(events[2:]) == ["a stop", "b stop"]


async def test_one_for_all_counts_the_restarts_of_all_children_together() -> None:
    events: list[str] = []
    parent_class = supervising(OneForAll(max_restarts=1, clock=ManualClock()))
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            parent = await system.spawn(parent_class, events, name="parent")
            a = await parent.ask(Adopt("a"))
            b = await parent.ask(Adopt("b"))
            with pytest.raises(ValueError, match="first"):
                await a.ask(Fail(ValueError("first")))
            with pytest.raises(ValueError, match="second"):
                await b.ask(Fail(ValueError("second")))
            await until(lambda: any(e.startswith("parent restart") for e in events))
            assert events[-1] == (
                "parent restart after chiffon://chiffon/parent/b escalated: 1 restarts within "
                "10 s exceeded (last failure: ValueError: second)"
            )


# -- restart intensity --------------------------------------------------------------------


async def test_more_restarts_than_the_intensity_allows_escalate_to_the_parent() -> None:
    events: list[str] = []
    parent_class = supervising(OneForOne(max_restarts=2, within_s=60, clock=ManualClock()))
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            parent = await system.spawn(parent_class, events, name="parent")
            child = await parent.ask(Adopt("w"))
            for n in (1, 2, 3):
                with pytest.raises(ValueError, match=f"boom {n}"):
                    await child.ask(Fail(ValueError(f"boom {n}")))
            await until(lambda: any(e.startswith("parent restart") for e in events))
            assert not child.is_alive
            assert events == [
                "w start",
                "w stop",
                "w restart after ValueError('boom 1')",
                "w stop",
                "w restart after ValueError('boom 2')",
                "w stop",
                "parent stop",
                "parent restart after chiffon://chiffon/parent/w escalated: 2 restarts within "
                "60 s exceeded (last failure: ValueError: boom 3)",
            ]


async def test_restarts_older_than_the_window_no_longer_count() -> None:
    events: list[str] = []
    clock = ManualClock()
    strategy = OneForOne(max_restarts=1, within_s=60, clock=clock)
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(strategy=strategy) as system:
            worker = await system.spawn(Worker, "w", events)
            for n in (1, 2, 3):
                with pytest.raises(ValueError, match=f"boom {n}"):
                    await worker.ask(Fail(ValueError(f"boom {n}")))
                assert await worker.ask(Bump()) == 1  # restarted, not escalated
                clock.advance(61)
            assert events.count("w stop") == 3


async def test_an_escalation_from_a_top_level_actor_ends_the_system_block_with_the_cause() -> None:
    original = ValueError("boom 2")
    reached_the_end = False

    async def scenario() -> None:
        nonlocal reached_the_end
        async with ActorSystem(strategy=OneForOne(max_restarts=1)) as system:
            worker = await system.spawn(Worker, "w", [], name="w")
            with pytest.raises(ValueError, match="boom 1"):
                await worker.ask(Fail(ValueError("boom 1")))
            worker.tell_nowait(Fail(original))
            await anyio.sleep_forever()  # cancelled by the escalation
            reached_the_end = True

    with anyio.fail_after(WAIT_S), pytest.raises(Escalated) as info:
        await scenario()
    assert str(info.value) == (
        "chiffon://chiffon/w escalated: 1 restarts within 10 s exceeded "
        "(last failure: ValueError: boom 2)"
    )
    assert info.value.__cause__ is original
    assert not reached_the_end


async def test_an_escalation_through_a_parent_reaches_the_root_with_the_chain_of_causes() -> None:
    original = ValueError("boom")
    escalate = OneForOne(decider=always(Directive.ESCALATE))

    async def scenario() -> None:
        async with ActorSystem(strategy=escalate) as system:
            parent = await system.spawn(supervising(escalate), [], name="parent")
            child = await parent.ask(Adopt("w"))
            child.tell_nowait(Fail(original))
            await anyio.sleep_forever()

    with anyio.fail_after(WAIT_S), pytest.raises(Escalated) as info:
        await scenario()
    assert str(info.value) == (
        "chiffon://chiffon/parent escalated: Escalated: "
        "chiffon://chiffon/parent/w escalated: ValueError: boom"
    )
    child_escalation = info.value.__cause__
    assert isinstance(child_escalation, Escalated)
    assert child_escalation.__cause__ is original


# -- backoff ------------------------------------------------------------------------------


async def test_restarts_wait_an_exponential_backoff_capped_at_its_maximum() -> None:
    events: list[str] = []
    clock = ManualClock()
    # Binary fractions, so that the clock's sums are exact.
    strategy = OneForOne(
        max_restarts=10, within_s=1000, backoff_min_s=0.125, backoff_max_s=0.75, clock=clock
    )
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(strategy=strategy) as system:
            worker = await system.spawn(Worker, "w", events)
            for n, delay in enumerate([0.125, 0.25, 0.5, 0.75, 0.75], start=1):
                with pytest.raises(ValueError, match=f"boom {n}"):
                    await worker.ask(Fail(ValueError(f"boom {n}")))
                await until(lambda: clock.sleeping == 1)
                assert clock.slept[-1] == delay
                clock.advance(delay / 2)
                await settle()
                assert clock.sleeping == 1  # not yet: half the delay has passed
                assert events.count("w stop") == n - 1
                clock.advance(delay / 2)
                assert await worker.ask(Bump()) == 1  # handled by the restarted instance
                assert events.count("w stop") == n
    assert clock.slept == [0.125, 0.25, 0.5, 0.75, 0.75]


async def test_without_a_minimum_backoff_a_restart_does_not_wait() -> None:
    clock = ManualClock()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(strategy=OneForOne(clock=clock)) as system:
            worker = await system.spawn(Worker, "w", [])
            with pytest.raises(ValueError, match="boom"):
                await worker.ask(Fail(ValueError("boom")))
            assert await worker.ask(Bump()) == 1
    assert clock.slept == []


async def test_on_restart_raising_is_a_new_failure_that_counts_toward_the_intensity() -> None:
    attempts: list[BaseException] = []

    class Stubborn(Worker):
        async def on_restart(self, cause: BaseException) -> None:
            attempts.append(cause)
            raise RuntimeError(f"cannot restart ({len(attempts)})")

    async def scenario() -> None:
        async with ActorSystem(strategy=OneForOne(max_restarts=2)) as system:
            worker = await system.spawn(Stubborn, "w", [], name="w")
            worker.tell_nowait(Fail(ValueError("boom")))
            await anyio.sleep_forever()

    with anyio.fail_after(WAIT_S), pytest.raises(Escalated) as info:
        await scenario()
    assert [repr(a) for a in attempts] == [
        "ValueError('boom')",
        "RuntimeError('cannot restart (1)')",
    ]
    assert str(info.value) == (
        "chiffon://chiffon/w escalated: 2 restarts within 10 s exceeded "
        "(last failure: RuntimeError: cannot restart (2))"
    )
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_a_constructor_failing_at_restart_is_a_new_failure_and_on_stop_runs_once() -> None:
    events: list[str] = []
    built: list[int] = []

    def build() -> Worker:
        built.append(len(built) + 1)
        if len(built) == 2:
            raise OSError("config file vanished")
        return Worker(f"w{len(built)}", events)

    with anyio.fail_after(WAIT_S):
        async with ActorSystem(strategy=OneForOne(max_restarts=3)) as system:
            worker = await system.spawn(build)
            with pytest.raises(ValueError, match="boom"):
                await worker.ask(Fail(ValueError("boom")))
            assert await worker.ask(Bump()) == 1
            assert built == [1, 2, 3]
            assert events == [
                "w1 start",
                "w1 stop",  # once, though two restarts were needed
                "w3 restart after OSError('config file vanished')",
            ]
