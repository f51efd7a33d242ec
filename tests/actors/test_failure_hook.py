"""``Actor.on_failure``: one place where an actor deals with its handlers' failures, instead
of a try/except in each handler; what it does not handle goes to the supervisor as before."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from chiffon.actors import Actor, ActorSystem, LocalRef, NoHandler, Terminated, handler
from chiffon.actors.testing import Probe

from .support import until


@dataclasses.dataclass(frozen=True)
class Work:
    fail_with: Exception | None = None


@dataclasses.dataclass(frozen=True)
class Watch:
    ref: LocalRef


class Unknown:
    pass


class Careful(Actor):
    """Handles its failures in ``on_failure``: records them, and re-raises a ``KeyError``."""

    def __init__(self, events: list[str], *, stop_on_failure: bool = False) -> None:
        self.events = events
        self.stop_on_failure = stop_on_failure
        self.failures: list[tuple[Exception, Any, Any]] = []

    async def on_restart(self, cause: BaseException) -> None:
        self.events.append(f"restart after {cause!r}")

    @handler
    def work(self, message: Work) -> str:
        if message.fail_with is not None:
            raise message.fail_with
        self.events.append("worked")
        return "done"

    @handler
    def watch(self, message: Watch) -> None:
        self.context.watch(message.ref)

    @handler
    def terminated(self, message: Terminated) -> None:
        raise RuntimeError(f"{message.ref.name} stopped")

    async def on_failure(self, error: Exception, message: Any) -> None:
        envelope = self.context.envelope
        self.failures.append((error, message, None if envelope is None else envelope.body))
        self.events.append(f"on_failure {error!r}")
        if isinstance(error, KeyError):
            raise error
        if self.stop_on_failure:
            self.context.stop()


async def test_the_hook_gets_the_error_and_the_message_and_the_actor_goes_on() -> None:
    events: list[str] = []
    async with ActorSystem() as system:
        actor = Careful(events)
        ref = await system.spawn(lambda: actor)
        failing = Work(ValueError("boom"))
        with pytest.raises(ValueError, match="boom"):  # the asker is answered all the same
            await ref.ask(failing)
        assert await ref.ask(Work()) == "done"
        assert events == ["on_failure ValueError('boom')", "worked"]  # no restart
        error, message, handled = actor.failures[0]
        assert (str(error), message, handled) == ("boom", failing, failing)


async def test_what_the_hook_raises_goes_to_the_supervisor() -> None:
    events: list[str] = []
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Careful(events))
        await ref.tell(Work(KeyError("missing")))
        await until(lambda: len(events) == 2)
        assert events == ["on_failure KeyError('missing')", "restart after KeyError('missing')"]


async def test_a_hook_that_stops_the_actor_ends_it_without_a_failure() -> None:
    events: list[str] = []
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Careful(events, stop_on_failure=True))
        watcher = Careful([])
        await (await system.spawn(lambda: watcher)).ask(Watch(ref))
        await ref.tell(Work(ValueError("boom")))
        await until(lambda: len(watcher.failures) == 1)
        notice = watcher.failures[0][1]
        assert isinstance(notice, Terminated)
        assert notice.cause is None  # the failure was dealt with: a plain stop
        assert events == ["on_failure ValueError('boom')"]


async def test_a_death_watch_handler_that_raises_reaches_the_hook_too() -> None:
    events: list[str] = []
    async with ActorSystem() as system:
        actor = Careful(events)
        ref = await system.spawn(lambda: actor)
        other = await system.spawn(Probe, name="other")
        await ref.ask(Watch(other))
        await other.stop()
        await until(lambda: len(events) == 1)
        assert events == ["on_failure RuntimeError('other stopped')"]
        assert await ref.ask(Work()) == "done"


async def test_a_message_no_handler_takes_is_not_given_to_the_hook() -> None:
    events: list[str] = []
    async with ActorSystem() as system:
        ref = await system.spawn(lambda: Careful(events))
        with pytest.raises(NoHandler):
            await ref.ask(Unknown())
        assert await ref.ask(Work()) == "done"
        assert events == ["worked"]
