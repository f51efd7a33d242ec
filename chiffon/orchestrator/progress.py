"""``RunProgress``: where one run stands — its state, its current plan revision and approval,
the current attempt of each step — and how a move of it is recorded and told.

The run actor (``chiffon.orchestrator.run``) and its ``Execution``
(``chiffon.orchestrator.execution``) hold the same one: what either changes, the other sees.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

import structlog
from pydantic import BaseModel

from chiffon.orchestrator.events import FINISHED, RunEvent
from chiffon.orchestrator.services import RunServices
from chiffon.orchestrator.states import RUN_TERMINAL
from chiffon.orchestrator.store import ApprovalRecord, StepRecord, now
from chiffon.protocol import Plan
from chiffon.run_records import RunState

log = structlog.get_logger("chiffon.run")


class RunProgress:
    """One run's state as its actor knows it, and the two ways it reaches the world: a move
    (a transition written with the message that caused it) and an event."""

    def __init__(self, run_id: uuid.UUID, services: RunServices) -> None:
        self.run_id = run_id
        self.s = services
        self.status: RunState = "received"
        self.revision = 0
        self.plan: Plan | None = None
        self.plan_hash: str | None = None
        self.approval: ApprovalRecord | None = None
        self.steps: list[StepRecord] = []
        """The current attempt of each position, in order."""
        self.left_for_you: dict[uuid.UUID, tuple[str, ...]] = {}
        """What each finished attempt left for a person to do (``StepResult.left_for_you``)."""

    async def move(
        self, to_state: RunState, cause: uuid.UUID | None, reason: str | None = None
    ) -> None:
        await self.s.store.transition_run(
            self.run_id, self.status, to_state, message_id=cause, reason=reason
        )
        self.status = to_state

    async def publish(self, kind: str, data: BaseModel | Mapping[str, Any]) -> None:
        """Tell the world (``RunEvent`` of ``kind``). An event the database cannot store is
        logged, not fatal: the run's own state is what counts. Its end is still told to this
        process's watchers (with id 0), so that a caller waiting here learns it."""
        payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
        try:
            await self.s.events.append(self.run_id, kind, payload)
        except Exception as exc:
            log.warning("run event not stored", run_id=str(self.run_id), kind=kind, error=str(exc))
            if kind == FINISHED:
                self.s.events.publish(
                    RunEvent(id=0, run_id=self.run_id, at=now(), kind=kind, data=payload)
                )

    def proposed(self) -> tuple[Plan, str]:
        if self.plan is None or self.plan_hash is None:
            raise RuntimeError(f"run {self.run_id} has no plan")
        return self.plan, self.plan_hash

    def approved(self) -> tuple[Plan, str, ApprovalRecord]:
        plan, digest = self.proposed()
        if self.approval is None:
            raise RuntimeError(f"run {self.run_id} has no approval")
        return plan, digest, self.approval

    def current(self, step_id: uuid.UUID) -> StepRecord | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def replace(self, step: StepRecord, **changes: Any) -> StepRecord:
        new = dataclasses.replace(step, **changes)
        self.steps = [new if s.id == step.id else s for s in self.steps]
        return new

    @property
    def ended(self) -> bool:
        return self.status in RUN_TERMINAL
