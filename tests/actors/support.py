"""Small helpers shared by the actor tests. Imports nothing of Chiffon outside chiffon.actors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import anyio
import anyio.lowlevel

from chiffon.actors import Actor, handler

WAIT_S = 5.0
"""The longest any test waits for something that should happen at once."""


async def until(predicate: Callable[[], bool], *, timeout: float = WAIT_S) -> None:
    """Yield to the event loop until ``predicate()`` holds; fail after ``timeout`` seconds.

    For state reached through scheduling alone (a sender blocked, a sleeper registered):
    it yields, it never sleeps.
    """
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.lowlevel.checkpoint()


async def settle() -> None:
    """Wait until every other task is blocked: whatever was started has run as far as it can."""
    with anyio.fail_after(WAIT_S):
        await anyio.wait_all_tasks_blocked()


@dataclasses.dataclass
class Hold:
    """Keeps a ``Gate`` busy until ``release`` is set; ``then_stop`` stops it afterwards."""

    release: anyio.Event
    then_stop: bool = False


@dataclasses.dataclass
class Note:
    text: str


class Gate(Actor):
    """An actor that can be held inside a handler, and records the notes it handles.

    Spawn it through a factory to keep the instance: ``await system.spawn(lambda: gate)``.
    """

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.holding = anyio.Event()
        """Set once a ``Hold`` is being handled."""

    @handler
    async def hold(self, message: Hold) -> str:
        self.holding.set()
        await message.release.wait()
        if message.then_stop:
            self.context.stop()
        return "released"

    @handler
    def note(self, message: Note) -> str:
        self.notes.append(message.text)
        return message.text
