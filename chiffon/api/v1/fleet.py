"""``/api/v1/agents``, ``/catalog``, ``/inventory`` and ``/suggestions``: what runs where, with
what playbooks, and what the playbooks' checks suggest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from chiffon.api.auth import Approver, Reader, Runner
from chiffon.api.context import ApiContext, context
from chiffon.api.problems import ProblemError, answers
from chiffon.protocol.agents import ResourceSample

router = APIRouter()

Context = Annotated[ApiContext, Depends(context)]
SuggestionId = Annotated[int, Path(ge=1, le=2**62)]
SuggestionStatus = Literal["open", "accepted", "dismissed", "implemented"]


class Agent(BaseModel):
    name: str
    kind: str
    version: str
    status: Literal["online", "offline"]
    capabilities: tuple[str, ...]
    resources: ResourceSample | None
    address: str
    heartbeat_interval_s: float
    announced_at: dt.datetime
    last_heartbeat_at: dt.datetime
    offline_at: dt.datetime | None
    offline_reason: str | None


class Variable(BaseModel):
    name: str
    type: str
    default: Any
    """``***`` for a secret."""
    description: str
    secret: bool
    choices: tuple[Any, ...] | None


class CatalogEntry(BaseModel):
    id: str
    description: str
    tags: tuple[str, ...]
    services: tuple[str, ...]
    hosts: str
    risk: str
    variables: list[Variable]
    after: tuple[str, ...]
    needs: tuple[str, ...]


class Inventory(BaseModel):
    groups: dict[str, tuple[str, ...]]
    hosts: tuple[str, ...]


class Suggestion(BaseModel):
    id: int
    created_at: dt.datetime
    updated_at: dt.datetime
    catalog: str
    entry: str | None
    rule: str
    source: str
    severity: str
    path: str
    line: int
    message: str
    why: str
    fix: str
    diff: str | None
    status: str
    run_id: str | None
    branch: str | None
    commit: str | None


@router.get("/agents", tags=["agents"], summary="Every agent heard of: status and resources")
async def agents(principal: Reader, ctx: Context) -> list[Agent]:
    return [
        Agent.model_validate(record, from_attributes=True)
        for record in await ctx.system.runs.agents()
    ]


@router.get("/catalog", tags=["catalog"], summary="The playbooks plans are made of")
async def catalog(principal: Reader, ctx: Context) -> list[CatalogEntry]:
    entries = _catalog(ctx).entries.values()
    return [
        CatalogEntry(
            id=e.id, description=e.description, tags=e.tags, services=e.services, hosts=e.hosts,
            risk=e.risk, after=e.after, needs=e.needs,
            variables=[
                Variable(name=name, type=v.type, default="***" if v.secret else v.default,
                         description=v.description, secret=v.secret, choices=v.choices)
                for name, v in e.variables.items()
            ],
        )
        for e in sorted(entries, key=lambda e: e.id)
    ]  # fmt: skip


@router.get("/inventory", tags=["catalog"], summary="The hosts and groups plans may target")
async def inventory(principal: Reader, ctx: Context) -> Inventory:
    found = _catalog(ctx).inventory
    return Inventory(groups=found.groups, hosts=found.hosts)


@router.get("/suggestions", tags=["suggestions"], summary="Playbook improvement suggestions")
async def suggestions(
    principal: Reader,
    ctx: Context,
    status: Annotated[list[SuggestionStatus] | None, Query(max_length=4)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Sequence[Suggestion]:
    found = await ctx.system.runs.suggestions(status=status, limit=limit)
    return [_suggestion(s) for s in found]


@router.post(
    "/suggestions/{suggestion_id}/accept",
    tags=["suggestions"],
    summary="Commit a suggestion's diff on a branch of the playbook repository",
    responses=answers({
        404: "No suggestion has this id",
        409: "The suggestion is not open, or its diff no longer applies",
    }),
)  # fmt: skip
async def accept(suggestion_id: SuggestionId, principal: Approver, ctx: Context) -> Suggestion:
    return _suggestion(await ctx.system.runs.accept_suggestion(suggestion_id))


@router.post(
    "/suggestions/{suggestion_id}/dismiss",
    tags=["suggestions"],
    summary="Dismiss a suggestion: later checks keep it dismissed",
    responses=answers({404: "No suggestion has this id"}),
)
async def dismiss(suggestion_id: SuggestionId, principal: Runner, ctx: Context) -> Suggestion:
    return _suggestion(await ctx.system.runs.dismiss_suggestion(suggestion_id))


def _catalog(ctx: ApiContext) -> Any:
    try:
        return ctx.system.domain.catalog
    except RuntimeError:
        raise ProblemError(503, "no_catalog", "this server was started without a catalog") from None


def _suggestion(found: Any) -> Suggestion:
    data = found.as_json()
    data.pop("fingerprint", None)
    return Suggestion.model_validate(data)
