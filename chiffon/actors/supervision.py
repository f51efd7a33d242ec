"""Supervision: what a parent does when a child's handler raises.

A strategy maps the exception to a ``Directive`` (``decider``), applies it to the failing
child alone (``OneForOne``) or to all its children (``OneForAll``), and bounds restarts: more
than ``max_restarts`` within ``within_s`` seconds escalates instead. Restarts wait an
exponential backoff (``backoff_min_s`` doubling up to ``backoff_max_s``) measured on
``clock``, which tests replace with ``chiffon.actors.testing.ManualClock``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from collections.abc import Callable
from typing import Protocol

import anyio

from chiffon.actors.errors import NoHandler


class Directive(enum.Enum):
    RESUME = "resume"
    """Keep the actor and its state; go on with the next message."""
    RESTART = "restart"
    """Replace the instance with a fresh one (``on_stop`` old, ``on_restart`` new); the
    mailbox is kept, the children of the old instance are stopped."""
    STOP = "stop"
    """Stop the actor; queued asks fail with ``ActorStopped``."""
    ESCALATE = "escalate"
    """Stop the child and fail the parent with ``Escalated``, for its own parent to decide."""


class Clock(Protocol):
    """Time as supervision sees it."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The event loop's clock."""

    def now(self) -> float:
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def default_decider(exc: BaseException) -> Directive:
    """A message no handler takes is skipped; any other exception restarts the actor."""
    return Directive.RESUME if isinstance(exc, NoHandler) else Directive.RESTART


@dataclasses.dataclass(frozen=True)
class SupervisorStrategy:
    """How a parent treats its failing children. Use ``OneForOne`` or ``OneForAll``."""

    decider: Callable[[BaseException], Directive] = default_decider
    max_restarts: int = 3
    within_s: float = 10.0
    backoff_min_s: float = 0.0
    backoff_max_s: float = 5.0
    clock: Clock = dataclasses.field(default_factory=MonotonicClock)
    all_for_one: bool = dataclasses.field(default=False, init=False)

    def backoff(self, restarts_so_far: int) -> float:
        """Delay before the next restart, given how many happened within the window."""
        if self.backoff_min_s <= 0:
            return 0.0
        return float(min(self.backoff_max_s, self.backoff_min_s * (2**restarts_so_far)))


@dataclasses.dataclass(frozen=True)
class OneForOne(SupervisorStrategy):
    """The directive applies to the failing child only."""


@dataclasses.dataclass(frozen=True)
class OneForAll(SupervisorStrategy):
    """A restart or stop applies to every child of the parent."""

    all_for_one: bool = dataclasses.field(default=True, init=False)


class RestartHistory:
    """Restart times within the strategy's window: one per child, or one shared (one-for-all)."""

    __slots__ = ("_times",)

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def record(self, strategy: SupervisorStrategy) -> int | None:
        """Count a restart now; the number of earlier restarts in the window, or ``None`` when
        the restart intensity is exceeded (escalate)."""
        now = strategy.clock.now()
        while self._times and now - self._times[0] > strategy.within_s:
            self._times.popleft()
        if len(self._times) >= strategy.max_restarts:
            return None
        earlier = len(self._times)
        self._times.append(now)
        return earlier
