"""What a run tells the people watching it, in-process: the CLI's live display and library
listeners. These are not messages (nothing here is journaled twice): the protocol messages a
run handles are passed to listeners as they are, plus the notices below."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

from chiffon.protocol import Plan


@dataclasses.dataclass(frozen=True, slots=True)
class PlanReady:
    """A validated plan, before its dry run: what the terminal shows first."""

    run_id: uuid.UUID
    revision: int
    plan: Plan
    plan_hash: str


@dataclasses.dataclass(frozen=True, slots=True)
class StepStarted:
    """A step attempt was dispatched to an agent."""

    run_id: uuid.UUID
    step_id: uuid.UUID
    position: int
    attempt: int
    playbook: str
    hosts: tuple[str, ...]
    total: int
    agent: str = ""
    """The agent it went to (its registry name)."""


@dataclasses.dataclass(frozen=True, slots=True)
class RunPaused:
    """No agent can take the next step now: the run waits (at most ``wait_s``) for one."""

    run_id: uuid.UUID
    reason: str
    wait_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class RunResumed:
    """An agent with the capacity appeared: the paused run goes on, on ``agent``."""

    run_id: uuid.UUID
    agent: str


Listener = Callable[[object], None]
"""Called on the event loop with each ``PlanReady``, ``StepStarted``, ``PlanProposed``,
``StepOutput``, ``StepResult`` (an interrupted attempt included), ``StepStatusReport``,
``RunPaused``, ``RunResumed`` and ``RunFinished`` of a run. It must not block; an exception
it raises is logged and the listener is dropped."""
