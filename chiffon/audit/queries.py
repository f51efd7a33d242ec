"""The audit's questions, asked of the database: which runs, what one run did, what changed a
service.

Every function takes the ``Database`` port and returns the typed records of
``chiffon.audit.records``. Run ids are accepted whole or as a unique prefix, like git's
abbreviated hashes (``chiffon.orchestrator.run_ids.resolve_run_id``, the one resolver).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.sql import ColumnElement

from chiffon.audit.failures import failures_of_run
from chiffon.audit.filters import touches, within
from chiffon.audit.records import (
    ApprovalRecord,
    LlmCallRecord,
    PlanRecord,
    Run,
    RunSummary,
    RunTimeline,
    ServiceChange,
    StepChange,
    StepRecord,
    host_stats,
)
from chiffon.audit.timeline import merge
from chiffon.database import Database, messages, transitions
from chiffon.llm.tables import llm_calls
from chiffon.orchestrator.errors import RunNotFound
from chiffon.orchestrator.run_ids import resolve_run_id
from chiffon.run_records import approvals, plans, runs, steps
from chiffon.sealing import shown

_SUMMARY_COLUMNS = tuple(RunSummary.model_fields)
_RUN_COLUMNS = tuple(Run.model_fields)
OUTPUT_KIND = "step.output"


def _statuses(status: str | Sequence[str] | None) -> list[str]:
    if status is None:
        return []
    return [status] if isinstance(status, str) else list(status)


async def list_runs(
    db: Database,
    *,
    status: str | Sequence[str] | None = None,
    since: dt.timedelta | None = None,
    service: str | None = None,
    limit: int = 50,
) -> list[RunSummary]:
    """Runs, newest first: with one of the ``status`` values, created within ``since`` of
    now (by this machine's clock), touching ``service``; at most ``limit``."""
    query = select(*(runs.c[name] for name in _SUMMARY_COLUMNS))
    if statuses := _statuses(status):
        query = query.where(runs.c.status.in_(statuses))
    if since is not None:
        query = query.where(within(runs.c.created_at, since))
    if service is not None:
        query = query.where(touches(service))
    query = query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
    return [RunSummary.model_validate(dict(row)) for row in await db.fetch(query)]


def _step(row: Any) -> StepRecord:
    values = dict(row)
    values["stats"] = host_stats(values["stats"])
    return StepRecord.model_validate(values)


async def run_timeline(
    db: Database, run_id: str | uuid.UUID, *, output_lines: bool = False
) -> RunTimeline:
    """Everything recorded about one run: its row, plans, approvals, steps with their stats,
    failures, model calls with their total cost, and its messages and transitions merged in
    time order. ``step.output`` messages are counted, and listed only with ``output_lines``.

    ``run_id`` may be a unique prefix. Raises ``RunNotFound``, ``AmbiguousRunId``.
    """
    rid = await resolve_run_id(db, run_id)
    run_row = await db.fetch_one(
        select(*(runs.c[name] for name in _RUN_COLUMNS)).where(runs.c.id == rid)
    )
    if run_row is None:  # deleted between the two statements
        raise RunNotFound(f"no run has the id {rid}")
    plan_rows = await db.fetch(
        select(*(plans.c[name] for name in PlanRecord.model_fields))
        .where(plans.c.run_id == rid)
        .order_by(plans.c.revision)
    )
    # A pending approval is a proposal, not a decision: the timeline shows decisions.
    approval_rows = await db.fetch(
        select(*(approvals.c[name] for name in ApprovalRecord.model_fields))
        .where(and_(approvals.c.run_id == rid, approvals.c.decision != "pending"))
        .order_by(approvals.c.decided_at, approvals.c.id)
    )
    step_rows = await db.fetch(
        select(*(steps.c[name] for name in StepRecord.model_fields))
        .where(steps.c.run_id == rid)
        .order_by(steps.c.position, steps.c.attempt)
    )
    call_rows = await db.fetch(
        select(*(llm_calls.c[name] for name in LlmCallRecord.model_fields))
        .where(llm_calls.c.run_id == rid)
        .order_by(llm_calls.c.created_at, llm_calls.c.id)
    )
    step_records = [_step(row) for row in step_rows]
    # The literal key keeps the statement matching the partial index ix_messages_run_id.
    key: ColumnElement[str] = literal_column("'run_id'")
    about_run = and_(
        messages.c.body.has_key(key),
        messages.c.body.op("->>")(key) == str(rid),
    )
    message_query = select(messages).where(about_run)
    if not output_lines:
        message_query = message_query.where(messages.c.kind != OUTPUT_KIND)
    message_rows = await db.fetch(message_query.order_by(messages.c.created_at, messages.c.id))
    output_row = await db.fetch_one(
        select(func.count().label("n"))
        .select_from(messages)
        .where(about_run, messages.c.kind == OUTPUT_KIND)
    )
    entities = [and_(transitions.c.entity_kind == "run", transitions.c.entity_id == str(rid))]
    if step_records:
        entities.append(
            and_(
                transitions.c.entity_kind == "step",
                transitions.c.entity_id.in_([str(s.id) for s in step_records]),
            )
        )
    transition_rows = await db.fetch(
        select(transitions).where(or_(*entities)).order_by(transitions.c.at, transitions.c.seq)
    )
    calls = [LlmCallRecord.model_validate(dict(row)) for row in call_rows]
    return RunTimeline(
        run=Run.model_validate({**dict(run_row), "request": shown(run_row["request"])}),
        plans=tuple(PlanRecord.model_validate(dict(row)) for row in plan_rows),
        approvals=tuple(
            ApprovalRecord.model_validate({k: v for k, v in row.items() if k != "run_id"})
            for row in approval_rows
        ),
        steps=tuple(step_records),
        failures=tuple(await failures_of_run(db, rid)),
        llm_calls=tuple(calls),
        llm_cost_usd=sum(call.cost_usd for call in calls),
        events=tuple(merge(message_rows, transition_rows, step_records)),
        output_events=int(output_row["n"]) if output_row is not None else 0,
    )


async def service_changes(
    db: Database,
    service: str,
    *,
    since: dt.timedelta | None = None,
    limit: int = 50,
) -> list[ServiceChange]:
    """Runs whose plan touched ``service``, newest first (at most ``limit``, created within
    ``since``), each with its step attempts: status, hosts, changed count per host."""
    query = select(
        runs.c.id,
        runs.c.request,
        runs.c.status,
        runs.c.services,
        runs.c.created_at,
        runs.c.finished_at,
    ).where(touches(service))
    if since is not None:
        query = query.where(within(runs.c.created_at, since))
    query = query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
    run_rows = await db.fetch(query)
    if not run_rows:
        return []
    step_rows = await db.fetch(
        select(
            steps.c.run_id,
            steps.c.position,
            steps.c.attempt,
            steps.c.playbook,
            steps.c.status,
            steps.c.hosts,
            steps.c.stats,
            steps.c.finished_at,
        )
        .where(steps.c.run_id.in_([row["id"] for row in run_rows]))
        .order_by(steps.c.run_id, steps.c.position, steps.c.attempt)
    )
    by_run: dict[uuid.UUID, list[StepChange]] = {}
    for row in step_rows:
        stats = host_stats(row["stats"])
        by_run.setdefault(row["run_id"], []).append(
            StepChange(
                position=row["position"],
                attempt=row["attempt"],
                playbook=row["playbook"],
                status=row["status"],
                hosts=tuple(row["hosts"]),
                changed={host: s.changed for host, s in stats.items()},
                finished_at=row["finished_at"],
            )
        )
    return [
        ServiceChange(
            run_id=row["id"],
            request=shown(row["request"]),
            status=row["status"],
            services=tuple(row["services"]),
            created_at=row["created_at"],
            finished_at=row["finished_at"],
            steps=tuple(by_run.get(row["id"], ())),
        )
        for row in run_rows
    ]
