"""The Run and Step transition tables say exactly what DESIGN.md says."""

from __future__ import annotations

import pytest

from chiffon.orchestrator.errors import IllegalTransition
from chiffon.orchestrator.states import (
    RUN_TERMINAL,
    RUN_TRANSITIONS,
    STEP_TERMINAL,
    check_run,
    check_step,
)
from chiffon.run_records import RUN_STATES, STEP_STATES, RunState


def test_the_tables_cover_exactly_the_states_the_database_allows() -> None:
    assert set(RUN_TRANSITIONS) - {None} == set(RUN_STATES)
    assert {"succeeded", "failed", "rejected", "expired", "cancelled"} == RUN_TERMINAL
    assert {"succeeded", "failed", "skipped", "cancelled", "interrupted"} == STEP_TERMINAL
    assert set(STEP_STATES) >= STEP_TERMINAL


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "received"),
        ("received", "planning"),
        ("planning", "awaiting_approval"),
        ("awaiting_approval", "approved"),
        ("awaiting_approval", "rejected"),
        ("awaiting_approval", "expired"),
        ("awaiting_approval", "planning"),  # modify
        ("approved", "running"),
        ("running", "succeeded"),
        ("running", "failed"),
        ("running", "paused"),
        ("paused", "running"),
        ("running", "interrupted"),
        ("interrupted", "running"),
    ],
)
def test_a_run_may_take_the_designed_paths(before: RunState | None, after: RunState) -> None:
    check_run("r", before, after)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("received", "approved"),  # nothing is approved without a plan
        ("planning", "running"),
        ("awaiting_approval", "running"),  # nothing runs without an approval
        ("succeeded", "running"),
        ("rejected", "approved"),
        ("expired", "approved"),
        ("failed", "succeeded"),
    ],
)
def test_a_run_refuses_every_other_path(before: RunState, after: RunState) -> None:
    with pytest.raises(IllegalTransition, match=f"run r cannot go from {before} to {after}"):
        check_run("r", before, after)


def test_a_step_attempt_never_leaves_a_terminal_state() -> None:
    check_step("s", "pending", "dispatched")
    check_step("s", "dispatched", "running")
    check_step("s", "running", "interrupted")
    for terminal in STEP_TERMINAL:
        with pytest.raises(IllegalTransition):
            check_step("s", terminal, "running")
    with pytest.raises(IllegalTransition, match="step s cannot go from pending to running"):
        check_step("s", "pending", "running")
