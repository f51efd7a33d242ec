"""Runs, plans, approvals and steps in PostgreSQL, through the ``Database`` port.

Every state change writes the entity's row and its ``transitions`` row in one transaction,
naming the message that caused it; the ``UPDATE … WHERE status = <expected>`` makes a change
that raced with another writer fail as ``IllegalTransition`` instead of overwriting it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chiffon.database import Database, transitions
from chiffon.orchestrator.errors import DispatchRefused, IllegalTransition, RunNotFound
from chiffon.orchestrator.run_ids import resolve_run_id
from chiffon.orchestrator.states import RUN_TERMINAL, check_run, check_step
from chiffon.protocol import Plan, PlanStep
from chiffon.run_records import RunState, StepState, approvals, plans, runs, steps


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class RunRecord:
    """A run as stored."""

    id: uuid.UUID
    request: str
    requested_by: str
    status: RunState
    planner: str
    high_value: bool
    budget_usd: float
    cost_usd: float
    revision: int
    plan_hash: str | None
    services: tuple[str, ...]
    owner: str | None
    reason: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> RunRecord:
        return cls(
            id=row["id"], request=row["request"], requested_by=row["requested_by"],
            status=row["status"], planner=row["planner"], high_value=row["high_value"],
            budget_usd=row["budget_usd"], cost_usd=row["cost_usd"], revision=row["revision"],
            plan_hash=row["plan_hash"], services=tuple(row["services"] or ()),
            owner=row["owner"], reason=row["reason"], created_at=row["created_at"],
            finished_at=row["finished_at"],
        )  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class StepRecord:
    """One attempt of one planned step."""

    id: uuid.UUID
    run_id: uuid.UUID
    position: int
    attempt: int
    playbook: str
    hosts: tuple[str, ...]
    variables: dict[str, Any]
    digest: str
    plan_hash: str
    status: StepState
    approval_id: uuid.UUID | None
    stats: dict[str, Any] | None
    reason: str | None
    agent: str | None = None
    """The agent it was dispatched to (none before it was dispatched)."""

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> StepRecord:
        return cls(
            id=row["id"], run_id=row["run_id"], position=row["position"],
            attempt=row["attempt"], playbook=row["playbook"], hosts=tuple(row["hosts"]),
            variables=dict(row["variables"]), digest=row["digest"],
            plan_hash=row["plan_hash"], status=row["status"], approval_id=row["approval_id"],
            stats=row["stats"], reason=row["reason"], agent=row["agent"],
        )  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """A decision on a plan revision."""

    id: uuid.UUID
    run_id: uuid.UUID
    plan_hash: str
    decision: str
    approver: str
    channel: str
    feedback: str | None
    decided_at: dt.datetime
    expires_at: dt.datetime
    revision: int | None = None
    """The plan revision decided on (``None`` for decisions recorded before it was kept)."""

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> ApprovalRecord:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True, slots=True)
class PendingRecord:
    """A proposal awaiting a decision: on exactly this revision and hash, before
    ``respond_by``."""

    id: uuid.UUID
    revision: int
    plan_hash: str
    respond_by: dt.datetime


class RunStore:
    """Core queries for runs and steps. Raises ``IllegalTransition`` for a transition the
    tables refuse or that lost a race, ``DispatchRefused`` when PostgreSQL refuses a dispatch,
    ``RunNotFound``; ``JournalUnavailable`` (retryable) when the database is unreachable."""

    def __init__(self, database: Database) -> None:
        self.db = database

    async def create_run(
        self,
        run_id: uuid.UUID,
        *,
        request: str,
        requested_by: str,
        planner: str,
        high_value: bool,
        budget_usd: float,
        owner: str,
        message_id: uuid.UUID | None,
    ) -> None:
        """Insert a run in ``received``, with its first transition."""
        check_run(run_id, None, "received")
        at = now()
        async with self.db.transaction() as tx:
            await tx.execute(
                insert(runs).values(
                    id=run_id, request=request, requested_by=requested_by, status="received",
                    version=1, planner=planner, high_value=high_value, budget_usd=budget_usd,
                    owner=owner, created_at=at, updated_at=at,
                )
            )  # fmt: skip
            await tx.execute(_transition("run", run_id, 1, None, "received", None, message_id, at))

    async def transition_run(
        self,
        run_id: uuid.UUID,
        from_state: RunState,
        to_state: RunState,
        *,
        message_id: uuid.UUID | None,
        reason: str | None = None,
        db: Database | None = None,
        **fields: Any,
    ) -> None:
        """Move a run from ``from_state`` to ``to_state`` (and set ``fields``) with its
        transition row, in one transaction (or within ``db``'s)."""
        check_run(run_id, from_state, to_state)
        at = now()
        values: dict[str, Any] = {"status": to_state, "updated_at": at, **fields}
        values["version"] = runs.c.version + 1
        if reason is not None:
            values["reason"] = reason
        if to_state in RUN_TERMINAL:
            values["finished_at"] = at
        statement = (
            update(runs)
            .where(and_(runs.c.id == run_id, runs.c.status == from_state))
            .values(values)
            .returning(runs.c.version)
        )
        async with _within(self.db, db) as tx:
            row = await tx.fetch_one(statement)
            if row is None:
                raise IllegalTransition("run", run_id, from_state, to_state)
            await tx.execute(
                _transition("run", run_id, row["version"], from_state, to_state, reason,
                            message_id, at)
            )  # fmt: skip

    async def add_plan(
        self,
        run_id: uuid.UUID,
        revision: int,
        plan: Plan,
        plan_hash: str,
        *,
        services: Sequence[str],
        feedback: str | None,
        message_id: uuid.UUID | None,
    ) -> None:
        """Store a validated plan revision and move the run to ``awaiting_approval``."""
        async with self.db.transaction() as tx:
            await tx.execute(
                insert(plans).values(
                    run_id=run_id, revision=revision, plan=plan.model_dump(mode="json"),
                    plan_hash=plan_hash, feedback=feedback, created_at=now(),
                )
            )  # fmt: skip
            await self.transition_run(
                run_id, "planning", "awaiting_approval", message_id=message_id, db=tx,
                revision=revision, plan_hash=plan_hash, services=list(services),
            )  # fmt: skip

    async def open_proposal(
        self,
        run_id: uuid.UUID,
        revision: int,
        plan_hash: str,
        respond_by: dt.datetime,
        *,
        db: Database | None = None,
    ) -> uuid.UUID:
        """The pending approval of ``revision``: the record any channel decides on until
        ``respond_by``. A run has at most one; proposing again (a resume) re-opens it with
        the new deadline. Returns its id (the decision's, once decided)."""
        proposal = pg_insert(approvals).values(
            id=uuid.uuid4(), run_id=run_id, plan_hash=plan_hash, revision=revision,
            decision="pending", respond_by=respond_by,
        )  # fmt: skip
        statement = proposal.on_conflict_do_update(
            index_elements=[approvals.c.run_id],
            index_where=approvals.c.decision == "pending",
            set_={"revision": revision, "plan_hash": plan_hash, "respond_by": respond_by},
        ).returning(approvals.c.id)
        async with _within(self.db, db) as tx:
            row = await tx.fetch_one(statement)
        assert row is not None
        return row["id"]  # type: ignore[no-any-return]

    async def decide(
        self,
        run_id: uuid.UUID,
        *,
        revision: int,
        plan_hash: str,
        decision: str,
        approver: str,
        channel: str,
        feedback: str | None,
        valid_for: dt.timedelta,
        to_state: RunState,
        db: Database,
        message_id: uuid.UUID | None = None,
    ) -> ApprovalRecord | None:
        """Decide on the pending approval of ``revision`` with ``plan_hash``, if it is still
        pending and (unless the decision is ``expired``, the run's own) not past its
        deadline, and move the run to ``to_state``, within ``db``'s transaction. ``None``
        when there is no such pending approval: someone decided first, the revision is stale,
        or it expired (``chiffon.orchestrator.decisions`` says which)."""
        at = now()
        condition = and_(
            approvals.c.run_id == run_id, approvals.c.decision == "pending",
            approvals.c.revision == revision, approvals.c.plan_hash == plan_hash,
        )  # fmt: skip
        if decision != "expired":
            condition = and_(condition, approvals.c.respond_by > at)
        row = await db.fetch_one(
            update(approvals)
            .where(condition)
            .values(
                decision=decision,
                approver=approver,
                channel=channel,
                feedback=feedback,
                decided_at=at,
                expires_at=at + valid_for,
                message_id=message_id,
            )
            .returning(*approvals.c)
        )
        if row is None:
            return None
        reason = None
        if decision != "approve":
            reason = f"{decision} by {approver}" + (f": {feedback}" if feedback else "")
        await self.transition_run(
            run_id, "awaiting_approval", to_state, message_id=message_id, db=db, reason=reason
        )
        return ApprovalRecord.of(row)

    async def pending(self, run_id: uuid.UUID) -> PendingRecord | None:
        """The run's pending approval, or ``None``."""
        row = await self.db.fetch_one(
            select(approvals.c.id, approvals.c.revision, approvals.c.plan_hash,
                   approvals.c.respond_by)
            .where(and_(approvals.c.run_id == run_id, approvals.c.decision == "pending"))
        )  # fmt: skip
        if row is None:
            return None
        return PendingRecord(row["id"], row["revision"], row["plan_hash"], row["respond_by"])

    async def decisions(self, run_id: uuid.UUID) -> list[ApprovalRecord]:
        """Every decision on the run's plans, oldest first (pending approvals left out)."""
        rows = await self.db.fetch(
            select(approvals)
            .where(and_(approvals.c.run_id == run_id, approvals.c.decision != "pending"))
            .order_by(approvals.c.decided_at, approvals.c.id)
        )
        return [ApprovalRecord.of(row) for row in rows]

    async def create_steps(
        self,
        run_id: uuid.UUID,
        plan_steps: Sequence[tuple[int, int, PlanStep]],
        *,
        plan_hash: str,
        approval_id: uuid.UUID,
        message_id: uuid.UUID | None,
    ) -> list[StepRecord]:
        """Insert pending attempts ``(position, attempt, step)``, each with its transition."""
        created: list[StepRecord] = []
        at = now()
        async with self.db.transaction() as tx:
            for position, attempt, step in plan_steps:
                step_id = uuid.uuid4()
                row = await tx.fetch_one(
                    insert(steps)
                    .values(
                        id=step_id, run_id=run_id, position=position, attempt=attempt,
                        playbook=step.playbook, hosts=list(step.hosts),
                        variables=dict(step.variables), digest=step.digest,
                        plan_hash=plan_hash, status="pending", version=1,
                        approval_id=approval_id, created_at=at,
                    )
                    .returning(*steps.c)
                )  # fmt: skip
                assert row is not None
                await tx.execute(
                    _transition("step", step_id, 1, None, "pending", None, message_id, at)
                )
                created.append(StepRecord.of(row))
        return created

    async def transition_step(
        self,
        step_id: uuid.UUID,
        from_state: StepState,
        to_state: StepState,
        *,
        message_id: uuid.UUID | None,
        reason: str | None = None,
        **fields: Any,
    ) -> None:
        """Move a step attempt, with its transition row. A dispatch PostgreSQL refuses (no
        matching, unexpired approval) raises ``DispatchRefused``."""
        check_step(step_id, from_state, to_state)
        at = now()
        values: dict[str, Any] = {"status": to_state, "version": steps.c.version + 1, **fields}
        if reason is not None:
            values["reason"] = reason
        if to_state == "dispatched":
            values["started_at"] = at
        elif to_state not in ("running",):
            values["finished_at"] = at
        statement = (
            update(steps)
            .where(and_(steps.c.id == step_id, steps.c.status == from_state))
            .values(values)
            .returning(steps.c.version)
        )
        async with self.db.transaction() as tx:
            row = await _guarded(tx, statement, to_state)
            if row is None:
                raise IllegalTransition("step", step_id, from_state, to_state)
            await tx.execute(
                _transition("step", step_id, row["version"], from_state, to_state, reason,
                            message_id, at)
            )  # fmt: skip

    async def run(self, run_id: uuid.UUID) -> RunRecord:
        """The run; raises ``RunNotFound``."""
        row = await self.db.fetch_one(select(runs).where(runs.c.id == run_id))
        if row is None:
            raise RunNotFound(f"no run {run_id}")
        return RunRecord.of(row)

    async def resolve(self, text: str | uuid.UUID) -> uuid.UUID:
        """A run id from its full form or a unique prefix (``resolve_run_id``)."""
        return await resolve_run_id(self.db, text)

    async def plan(self, run_id: uuid.UUID, revision: int) -> tuple[Plan, str]:
        """A stored plan revision and its hash."""
        row = await self.db.fetch_one(
            select(plans.c.plan, plans.c.plan_hash).where(
                and_(plans.c.run_id == run_id, plans.c.revision == revision)
            )
        )
        if row is None:
            raise RunNotFound(f"run {run_id} has no plan revision {revision}")
        return Plan.model_validate(row["plan"]), row["plan_hash"]

    async def steps(self, run_id: uuid.UUID) -> list[StepRecord]:
        """Every attempt of every step of a run, by position then attempt."""
        rows = await self.db.fetch(
            select(steps)
            .where(steps.c.run_id == run_id)
            .order_by(steps.c.position, steps.c.attempt)
        )
        return [StepRecord.of(row) for row in rows]

    async def latest_approval(self, run_id: uuid.UUID, plan_hash: str) -> ApprovalRecord | None:
        """The latest approving decision on ``plan_hash`` for the run, or None."""
        row = await self.db.fetch_one(
            select(approvals)
            .where(
                and_(
                    approvals.c.run_id == run_id,
                    approvals.c.plan_hash == plan_hash,
                    approvals.c.decision == "approve",
                )
            )
            .order_by(approvals.c.decided_at.desc())
            .limit(1)
        )
        return None if row is None else ApprovalRecord.of(row)

    async def unfinished(self) -> list[RunRecord]:
        """Every run not in a terminal state, oldest first."""
        rows = await self.db.fetch(
            select(runs)
            .where(runs.c.status.notin_(sorted(RUN_TERMINAL)))
            .order_by(runs.c.created_at)
        )
        return [RunRecord.of(row) for row in rows]

    async def claim(self, run_id: uuid.UUID, owner: str, expected: str | None) -> bool:
        """Make ``owner`` the process driving the run, if its owner is still ``expected``."""
        row = await self.db.fetch_one(
            update(runs)
            .where(and_(runs.c.id == run_id, _is(runs.c.owner, expected)))
            .values(owner=owner)
            .returning(runs.c.id)
        )
        return row is not None

    async def set_cost(self, run_id: uuid.UUID, cost_usd: float) -> None:
        await self.db.execute(update(runs).where(runs.c.id == run_id).values(cost_usd=cost_usd))


def _is(col: Any, value: str | None) -> Any:
    return col.is_(None) if value is None else col == value


async def _guarded(tx: Database, statement: Any, to_state: str) -> Mapping[str, Any] | None:
    try:
        return await tx.fetch_one(statement)
    except Exception as exc:
        # check_violation, raised by the steps_dispatch_guard trigger (migration 0002).
        if getattr(exc, "sqlstate", None) == "23514" and to_state == "dispatched":
            raise DispatchRefused(_first_line(exc)) from exc
        raise


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _transition(
    kind: str,
    entity_id: uuid.UUID,
    seq: int,
    from_state: str | None,
    to_state: str,
    reason: str | None,
    message_id: uuid.UUID | None,
    at: dt.datetime,
) -> Any:
    return insert(transitions).values(
        entity_kind=kind, entity_id=str(entity_id), seq=seq, from_state=from_state,
        to_state=to_state, reason=reason, message_id=message_id, at=at,
    )  # fmt: skip


class _within:
    """``db`` when the caller is already inside a transaction, else a new one."""

    def __init__(self, database: Database, current: Database | None) -> None:
        self._database = database
        self._current = current
        self._cm: Any = None

    async def __aenter__(self) -> Database:
        if self._current is not None:
            return self._current
        self._cm = self._database.transaction()
        return await self._cm.__aenter__()  # type: ignore[no-any-return]

    async def __aexit__(self, *exc: object) -> None:
        if self._cm is not None:
            await self._cm.__aexit__(*exc)
