"""Rows of finished runs, written through the Database as the orchestrator would: runs, plans,
approvals, steps with stats, failures, model calls, and the runtime's messages and
transitions about them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import insert

from chiffon.actors import id_to_uuid, new_id
from chiffon.audit.failures import record_failure
from chiffon.database import Database
from chiffon.journal.database import PostgresDatabase
from chiffon.journal.postgres import create_pool
from chiffon.journal.schema import messages, transitions
from chiffon.llm.tables import llm_calls
from chiffon.protocol import StepFailure
from chiffon.run_records import approvals, plans, runs, steps


@asynccontextmanager
async def database(dsn: str) -> AsyncIterator[Database]:
    pool = await create_pool(dsn, size=2)
    try:
        yield PostgresDatabase(pool)
    finally:
        await pool.close()


def uid() -> uuid.UUID:
    return id_to_uuid(new_id())


@dataclasses.dataclass
class Step:
    playbook: str
    status: str = "succeeded"
    changed: int = 1
    hosts: tuple[str, ...] = ("nas",)
    variables: dict[str, Any] = dataclasses.field(default_factory=dict)
    failure: StepFailure | None = None


@dataclasses.dataclass
class Seeded:
    run_id: uuid.UUID
    step_ids: list[uuid.UUID]
    plan_hash: str
    message_ids: list[uuid.UUID]


async def seed_run(
    db: Database,
    *,
    request: str,
    status: str,
    services: Sequence[str],
    steps_: Sequence[Step],
    created_at: dt.datetime | None = None,
    llm_costs: Sequence[float] = (),
    approver: str = "alice",
) -> Seeded:
    """A run that went received → … → ``status``, with every record a real run leaves."""
    t0 = created_at or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    def at(seconds: float) -> dt.datetime:
        return t0 + dt.timedelta(seconds=seconds)

    run_id = uid()
    plan_hash = f"sha256:{uuid.uuid4().hex}"
    plan = {
        "request": request,
        "steps": [
            {"playbook": s.playbook, "hosts": list(s.hosts), "variables": s.variables}
            for s in steps_
        ],
        "planner": "catalog",
        "confidence": 0.9,
    }
    message_ids: list[uuid.UUID] = []
    cost = sum(llm_costs)
    async with db.transaction() as tx:
        await tx.execute(
            insert(runs).values(
                id=run_id, request=request, requested_by="alice", status=status, version=6,
                planner="catalog", budget_usd=0.5, cost_usd=cost, revision=1,
                plan_hash=plan_hash, services=list(services), created_at=at(0),
                updated_at=at(60), finished_at=at(60),
                reason="a step failed" if status == "failed" else None,
            )
        )  # fmt: skip
        await tx.execute(
            insert(plans).values(
                run_id=run_id, revision=1, plan=plan, plan_hash=plan_hash, created_at=at(2)
            )
        )
        approval_id = uid()
        await tx.execute(
            insert(approvals).values(
                id=approval_id, run_id=run_id, plan_hash=plan_hash, decision="approve",
                approver=approver, channel="terminal", decided_at=at(5),
                expires_at=at(900),
            )
        )  # fmt: skip

        async def message(kind: str, seconds: float, body: dict[str, Any]) -> uuid.UUID:
            message_id = uid()
            await tx.execute(
                insert(messages).values(
                    id=message_id, kind=kind, sender="chiffon://local/orchestrator",
                    recipient="chiffon://local/agent", created_at=at(seconds),
                    body={"run_id": str(run_id), **body},
                )
            )  # fmt: skip
            message_ids.append(message_id)
            return message_id

        async def transition(
            kind: str, entity: uuid.UUID, seq: int, to: str, seconds: float,
            cause: uuid.UUID | None, frm: str | None, reason: str | None = None,
        ) -> None:  # fmt: skip
            await tx.execute(
                insert(transitions).values(
                    entity_kind=kind, entity_id=str(entity), seq=seq, from_state=frm,
                    to_state=to, reason=reason, message_id=cause, at=at(seconds),
                )
            )  # fmt: skip

        requested = await message("run.requested", 0, {"request": request, "requested_by": "alice"})
        await transition("run", run_id, 1, "received", 0, requested, None)
        await transition("run", run_id, 2, "planning", 1, requested, "received")
        proposed = await message(
            "plan.proposed", 2, {"revision": 1, "plan": plan, "plan_hash": plan_hash}
        )
        await transition("run", run_id, 3, "awaiting_approval", 2, proposed, "planning")
        decided = await message(
            "plan.decision",
            5,
            {"plan_hash": plan_hash, "decision": "approve", "approver": approver,
             "channel": "terminal"},
        )  # fmt: skip
        await transition("run", run_id, 4, "approved", 5, decided, "awaiting_approval")
        await transition("run", run_id, 5, "running", 6, decided, "approved")
        step_ids = []
        # Positions count from 0, as the orchestrator's do: people see them from 1.
        for position, spec in enumerate(steps_):
            step_id = uid()
            step_ids.append(step_id)
            start = 10 * (position + 1)
            stats = {
                host: {"ok": 3, "changed": spec.changed, "failed": int(spec.status == "failed"),
                       "unreachable": 0, "skipped": 1, "rescued": 0}
                for host in spec.hosts
            }  # fmt: skip
            await tx.execute(
                insert(steps).values(
                    id=step_id, run_id=run_id, position=position, attempt=1,
                    playbook=spec.playbook, hosts=list(spec.hosts), variables=spec.variables,
                    digest="sha256:d", plan_hash=plan_hash, status=spec.status, version=4,
                    approval_id=approval_id, agent="infra", stats=stats,
                    created_at=at(start), started_at=at(start + 1), finished_at=at(start + 5),
                )
            )  # fmt: skip
            execute = await message(
                "step.execute",
                start,
                {"step_id": str(step_id), "playbook": spec.playbook, "hosts": list(spec.hosts),
                 "attempt": 1},
            )  # fmt: skip
            await transition("step", step_id, 1, "pending", start, execute, None)
            await transition("step", step_id, 2, "dispatched", start, execute, "pending")
            await message(
                "step.output",
                start + 2,
                {"step_id": str(step_id), "seq": 0, "event": "runner_on_ok", "host": "nas",
                 "task": "Install", "status": "changed"},
            )  # fmt: skip
            result = await message(
                "step.result",
                start + 5,
                {"step_id": str(step_id), "attempt": 1, "status": spec.status, "stats": stats,
                 "seconds": 4.0},
            )  # fmt: skip
            await transition("step", step_id, 3, "running", start + 1, execute, "dispatched")
            await transition("step", step_id, 4, spec.status, start + 5, result, "running")
            if spec.failure is not None:
                await record_failure(
                    tx, run_id=run_id, step_id=step_id, attempt=1, playbook=spec.playbook,
                    failure=spec.failure, at=at(start + 5),
                )  # fmt: skip
        finished = await message("run.finished", 60, {"status": status, "cost_usd": cost})
        await transition("run", run_id, 6, status, 60, finished, "running")
        for n, call_cost in enumerate(llm_costs):
            await tx.execute(
                insert(llm_calls).values(
                    id=uid(), run_id=run_id, purpose="plan", model=f"model-{n}",
                    route="external: high value", ok=True, prompt_tokens=100,
                    completion_tokens=50, latency_ms=120.0, cost_usd=call_cost,
                    created_at=at(1.5),
                )
            )  # fmt: skip
    return Seeded(run_id, step_ids, plan_hash, message_ids)
