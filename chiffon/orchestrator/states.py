"""The Run and Step state machines of DESIGN.md, as transition tables.

A run: received → planning → awaiting_approval → (rejected | expired | approved) → running →
(succeeded | failed | cancelled), with paused (waiting for resources) and interrupted (the
process driving it stopped). Modify goes back to planning. Planning can end in ``rejected``
without a human: a plan that fails validation, or a request that needs clarification, is
never shown for approval.

A step attempt: pending → dispatched → running → (succeeded | failed | skipped | cancelled |
interrupted). An interrupted attempt stays interrupted; a resume adds a new attempt.
"""

from __future__ import annotations

from chiffon.orchestrator.errors import IllegalTransition
from chiffon.run_records import RunState, StepState

RUN_TRANSITIONS: dict[RunState | None, frozenset[RunState]] = {
    None: frozenset({"received"}),
    "received": frozenset({"planning", "cancelled", "interrupted"}),
    "planning": frozenset({"awaiting_approval", "rejected", "failed", "cancelled", "interrupted"}),
    "awaiting_approval": frozenset(
        {"approved", "rejected", "expired", "planning", "cancelled", "interrupted"}
    ),
    "approved": frozenset({"running", "cancelled", "interrupted"}),
    "running": frozenset({"succeeded", "failed", "cancelled", "paused", "interrupted"}),
    "paused": frozenset({"running", "failed", "cancelled", "interrupted"}),
    "interrupted": frozenset({"planning", "awaiting_approval", "running", "failed", "cancelled"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "rejected": frozenset(),
    "expired": frozenset(),
    "cancelled": frozenset(),
}

STEP_TRANSITIONS: dict[StepState | None, frozenset[StepState]] = {
    None: frozenset({"pending"}),
    "pending": frozenset({"dispatched", "skipped", "cancelled"}),
    "dispatched": frozenset({"running", "succeeded", "failed", "interrupted", "cancelled"}),
    "running": frozenset({"succeeded", "failed", "interrupted", "cancelled"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "skipped": frozenset(),
    "cancelled": frozenset(),
    "interrupted": frozenset(),
}

RUN_TERMINAL: frozenset[RunState] = frozenset(
    s for s, nxt in RUN_TRANSITIONS.items() if s and not nxt
)
STEP_TERMINAL: frozenset[StepState] = frozenset(
    s for s, nxt in STEP_TRANSITIONS.items() if s and not nxt
)


def check_run(run_id: object, from_state: RunState | None, to_state: RunState) -> None:
    """Raise ``IllegalTransition`` unless a run may go from ``from_state`` to ``to_state``."""
    if to_state not in RUN_TRANSITIONS.get(from_state, frozenset()):
        raise IllegalTransition("run", run_id, str(from_state), to_state)


def check_step(step_id: object, from_state: StepState | None, to_state: StepState) -> None:
    """Raise ``IllegalTransition`` unless a step may go from ``from_state`` to ``to_state``."""
    if to_state not in STEP_TRANSITIONS.get(from_state, frozenset()):
        raise IllegalTransition("step", step_id, str(from_state), to_state)
