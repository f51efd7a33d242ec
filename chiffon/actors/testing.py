"""Helpers for testing actors, shipped with the runtime (as ``temporalio.testing`` is)."""

from __future__ import annotations

import heapq
import itertools
from typing import Any

import anyio

from chiffon.actors.actor import Actor
from chiffon.actors.handlers import handler


class ManualClock:
    """A clock that moves only when told, for supervision (``OneForOne(clock=…)``) and for
    timers (``ActorSystem(clock=…)``): backoff delays and timers become exact and instant in
    tests. ``advance(s)`` wakes every sleeper whose time has come, earliest first."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._serial = itertools.count()
        self.slept: list[float] = []
        """Every delay asked of ``sleep``, in order."""

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        event = anyio.Event()
        sleeper = (self._now + seconds, next(self._serial), event)
        heapq.heappush(self._sleepers, sleeper)
        try:
            await event.wait()
        finally:
            if not event.is_set():  # cancelled (a cancelled timer): no longer sleeping
                self._sleepers.remove(sleeper)
                heapq.heapify(self._sleepers)

    @property
    def sleeping(self) -> int:
        """How many sleepers are waiting."""
        return len(self._sleepers)

    def advance(self, seconds: float) -> None:
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            heapq.heappop(self._sleepers)[2].set()


class Probe(Actor):
    """An actor that records every message it gets; ``await probe.expect(n)`` waits for them.

    Keep the instance by spawning it through a factory::

        probe = Probe()
        ref = await system.spawn(lambda: probe)
    """

    def __init__(self) -> None:
        self.received: list[Any] = []
        self._arrived = anyio.Event()

    @handler(object)
    def _record(self, message: object) -> None:
        self.received.append(message)
        self._arrived.set()
        self._arrived = anyio.Event()

    async def expect(self, count: int, timeout: float = 5.0) -> list[Any]:
        """Wait until ``count`` messages have arrived; return them."""
        with anyio.fail_after(timeout):
            while len(self.received) < count:
                await self._arrived.wait()
        return self.received[:count]
