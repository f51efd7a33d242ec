"""``/api/v1/audit``: failures, changes to a service, a run's timeline and model calls, and
the messages refused over RabbitMQ (dead letters)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from chiffon.api.auth import Reader
from chiffon.api.context import ApiContext, context
from chiffon.api.problems import RUN_NOT_FOUND
from chiffon.api.v1.runs import RunId
from chiffon.audit.dead_letters import DeadLetterRecord
from chiffon.audit.records import FailureRecord, LlmCallRecord, RunTimeline, ServiceChange

router = APIRouter(tags=["audit"])

Context = Annotated[ApiContext, Depends(context)]
SinceDays = Annotated[
    int | None, Query(alias="since_days", ge=1, le=3650, description="Only the last N days.")
]
Limit = Annotated[int, Query(ge=1, le=500)]


def _days(days: int | None) -> dt.timedelta | None:
    return None if days is None else dt.timedelta(days=days)


@router.get("/audit/failures", summary="Failure records, newest first")
async def failures(
    principal: Reader,
    ctx: Context,
    since_days: SinceDays = 7,
    service: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
) -> Sequence[FailureRecord]:
    return await ctx.system.runs.failures(since=_days(since_days), service=service, limit=limit)


@router.get("/audit/changes", summary="Every run that touched a service, with what it changed")
async def changes(
    principal: Reader,
    ctx: Context,
    service: Annotated[str, Query(min_length=1, max_length=200)],
    since_days: SinceDays = None,
    limit: Limit = 50,
) -> Sequence[ServiceChange]:
    return await ctx.system.runs.changes(service, since=_days(since_days), limit=limit)


@router.get(
    "/runs/{run_id}/timeline",
    tags=["audit"],
    summary="Messages and transitions",
    responses=RUN_NOT_FOUND,
)
async def timeline(
    run_id: RunId,
    principal: Reader,
    ctx: Context,
    output_lines: Annotated[bool, Query(description="Include each output line.")] = False,
) -> RunTimeline:
    return await ctx.system.runs.timeline(run_id, output_lines=output_lines)


@router.get(
    "/runs/{run_id}/model-calls",
    tags=["audit"],
    summary="Model calls and their cost",
    responses=RUN_NOT_FOUND,
)
async def model_calls(run_id: RunId, principal: Reader, ctx: Context) -> Sequence[LlmCallRecord]:
    return await ctx.system.runs.model_calls(run_id)


@router.get("/dead-letters", summary="Messages refused over RabbitMQ, newest first")
async def dead_letters(
    principal: Reader,
    ctx: Context,
    since_days: SinceDays = None,
    code: Annotated[str | None, Query(max_length=100)] = None,
    reported_by: Annotated[
        str | None,
        Query(max_length=300, description="orchestrator, agent:<name>, user:<login>, unverified"),
    ] = None,
    limit: Limit = 100,
) -> Sequence[DeadLetterRecord]:
    return await ctx.system.runs.dead_letters(
        since=_days(since_days), code=code, reported_by=reported_by, limit=limit
    )
