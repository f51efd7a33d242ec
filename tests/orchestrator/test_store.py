"""``RunStore`` against real PostgreSQL: state and transition commit together, races lose
cleanly, and the database itself refuses a dispatch without a matching, live approval."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from chiffon.journal.schema import transitions
from chiffon.orchestrator.errors import DispatchRefused, IllegalTransition
from chiffon.orchestrator.store import ApprovalRecord, RunStore, StepRecord
from chiffon.protocol import Plan, PlanStep, plan_hash
from chiffon.run_records import RunState, approvals
from tests.orchestrator.conftest import opened

pytestmark = pytest.mark.postgres

PLAN = Plan(
    request="deploy uptime kuma",
    steps=(PlanStep(playbook="uptime-kuma", hosts=("core",), digest="sha256:x"),),
    planner="catalog",
    confidence=0.9,
)


async def _awaiting(runs: RunStore, plan: Plan = PLAN) -> uuid.UUID:
    run_id = uuid.uuid4()
    await runs.create_run(
        run_id, request=plan.request, requested_by="tester", planner="catalog",
        high_value=False, budget_usd=0.5, owner="here", message_id=None,
    )  # fmt: skip
    await runs.transition_run(run_id, "received", "planning", message_id=None)
    await runs.add_plan(
        run_id, 1, plan, plan_hash(plan), services=["uptime-kuma"], feedback=None,
        message_id=None,
    )  # fmt: skip
    return run_id


async def _decided_step(
    runs: RunStore, run_id: uuid.UUID, decision: str, to_state: RunState, *, step_hash: str = ""
) -> tuple[ApprovalRecord, StepRecord]:
    """Record ``decision`` on the run's plan and create its one step under that decision
    (with ``step_hash`` as the step's plan hash, the plan's own by default)."""
    respond_by = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    await runs.open_proposal(run_id, 1, plan_hash(PLAN), respond_by)
    async with runs.db.transaction() as tx:
        approval = await runs.decide(
            run_id, revision=1, plan_hash=plan_hash(PLAN), decision=decision,
            approver="tester", channel="terminal", feedback=None,
            valid_for=dt.timedelta(minutes=5), to_state=to_state, db=tx,
        )  # fmt: skip
    assert approval is not None
    [step] = await runs.create_steps(
        run_id, [(0, 1, PLAN.steps[0])], plan_hash=step_hash or plan_hash(PLAN),
        approval_id=approval.id, message_id=None,
    )  # fmt: skip
    return approval, step


async def test_each_transition_is_stored_with_the_entity_in_order(
    pg_dsn: str, tmp_path: Path
) -> None:
    async with opened(pg_dsn, tmp_path) as store:
        runs = RunStore(store.database)
        run_id = await _awaiting(runs)
        record = await runs.run(run_id)
        assert record.status == "awaiting_approval"
        assert record.services == ("uptime-kuma",)
        rows = await store.database.fetch(
            select(transitions.c.seq, transitions.c.from_state, transitions.c.to_state)
            .where(transitions.c.entity_id == str(run_id))
            .order_by(transitions.c.seq)
        )
        assert [(r["seq"], r["from_state"], r["to_state"]) for r in rows] == [
            (1, None, "received"),
            (2, "received", "planning"),
            (3, "planning", "awaiting_approval"),
        ]


async def test_a_transition_from_a_state_the_run_has_left_changes_nothing(
    pg_dsn: str, tmp_path: Path
) -> None:
    async with opened(pg_dsn, tmp_path) as store:
        runs = RunStore(store.database)
        run_id = await _awaiting(runs)
        with pytest.raises(IllegalTransition, match="cannot go from planning to awaiting_approval"):
            await runs.transition_run(run_id, "planning", "awaiting_approval", message_id=None)
        with pytest.raises(IllegalTransition, match="cannot go from awaiting_approval to running"):
            await runs.transition_run(run_id, "awaiting_approval", "running", message_id=None)
        assert (await runs.run(run_id)).status == "awaiting_approval"


async def test_an_approved_step_is_dispatched(pg_dsn: str, tmp_path: Path) -> None:
    async with opened(pg_dsn, tmp_path) as store:
        runs = RunStore(store.database)
        run_id = await _awaiting(runs)
        _, step = await _decided_step(runs, run_id, "approve", "approved")
        await runs.transition_step(step.id, "pending", "dispatched", message_id=None)
        assert [s.status for s in await runs.steps(run_id)] == ["dispatched"]


async def test_the_database_refuses_a_dispatch_whose_approval_has_expired(
    pg_dsn: str, tmp_path: Path
) -> None:
    async with opened(pg_dsn, tmp_path) as store:
        runs = RunStore(store.database)
        run_id = await _awaiting(runs)
        approval, step = await _decided_step(runs, run_id, "approve", "approved")
        await store.database.execute(
            update(approvals)
            .where(approvals.c.id == approval.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        with pytest.raises(DispatchRefused, match="expired"):
            await runs.transition_step(step.id, "pending", "dispatched", message_id=None)
        assert [s.status for s in await runs.steps(run_id)] == ["pending"]


async def test_the_database_refuses_a_dispatch_without_an_approval_of_its_plan(
    pg_dsn: str, tmp_path: Path
) -> None:
    async with opened(pg_dsn, tmp_path) as store:
        runs = RunStore(store.database)
        run_id = await _awaiting(runs)
        _, step = await _decided_step(runs, run_id, "reject", "rejected")
        with pytest.raises(DispatchRefused, match="does not approve"):
            await runs.transition_step(step.id, "pending", "dispatched", message_id=None)
        other_run = await _awaiting(runs)
        _, other_plan = await _decided_step(
            runs, other_run, "approve", "approved", step_hash="sha256:another-plan"
        )
        with pytest.raises(DispatchRefused, match="does not approve"):
            await runs.transition_step(other_plan.id, "pending", "dispatched", message_id=None)
        async with store.database.transaction() as tx:
            with pytest.raises(Exception, match="has no approval"):
                await tx.execute(
                    text(
                        "UPDATE steps SET approval_id = NULL, status = 'dispatched' WHERE id = :id"
                    ).bindparams(id=step.id)
                )


async def test_a_unique_prefix_resolves_to_its_run(pg_dsn: str, tmp_path: Path) -> None:
    async with opened(pg_dsn, tmp_path) as store:
        runs = RunStore(store.database)
        run_id = await _awaiting(runs)
        assert await runs.resolve(str(run_id)[:13]) == run_id
        assert await runs.resolve(str(run_id).upper()) == run_id
