"""What the orchestrator's run actor does with an agent, as a stand-in: send it messages (so
that the stand-in is their sender), collect what comes back, wait for it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import anyio

from chiffon.actors import ActorRef, handler
from chiffon.actors.actor import Actor
from chiffon.catalog import Catalog
from chiffon.protocol import StepExecute, StepOutput, StepResult, StepStatusReport


@dataclasses.dataclass
class Dispatch:
    """Tell the stand-in to send ``step`` to the agent (so that it is the sender)."""

    step: Any
    to: ActorRef | None = None


class RunStandIn(Actor):
    """Dispatches to ``infra`` and records outputs, results and status reports."""

    def __init__(self, infra: ActorRef) -> None:
        self.infra = infra
        self.outputs: list[StepOutput] = []
        self.results: list[StepResult] = []
        self.reports: list[StepStatusReport] = []
        self._changed = anyio.Event()

    @handler
    async def dispatch(self, message: Dispatch) -> None:
        await (message.to or self.infra).tell(message.step)

    @handler
    def output(self, message: StepOutput) -> None:
        self.outputs.append(message)
        self._poke()

    @handler
    def result(self, message: StepResult) -> None:
        self.results.append(message)
        self._poke()

    @handler
    def report(self, message: StepStatusReport) -> None:
        self.reports.append(message)
        self._poke()

    def _poke(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        """Wait until ``condition()`` holds (checked whenever something arrives)."""
        with anyio.fail_after(timeout):
            while not condition():
                await self._changed.wait()

    async def next_result(self) -> StepResult:
        count = len(self.results)
        await self.until(lambda: len(self.results) > count)
        return self.results[-1]


def step(catalog: Catalog, playbook: str = "write", **changes: Any) -> StepExecute:
    fields: dict[str, Any] = {
        "run_id": uuid.uuid4(),
        "step_id": uuid.uuid4(),
        "attempt": 1,
        "position": 0,
        "playbook": playbook,
        "digest": catalog.digest(playbook) if playbook in catalog.entries else "sha256:0",
        "hosts": ("box",),
        "variables": {"greeting": "hi"} if playbook in ("write", "gpu-job") else {},
        "approval_id": uuid.uuid4(),
        "plan_hash": "sha256:plan",
    }
    fields.update(changes)
    return StepExecute(**fields)
