"""``/api/v1/runs``: submit (202 + ``Location``, ``Idempotency-Key``), list (filters, keyset
cursor, a default time window), one run in full, cancel, and a plan preview.

Each route parses, asks ``system.runs`` and renders what it answers: nothing here reads the
database.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from chiffon.access import Principal
from chiffon.api.auth import (
    Reader,
    Runner,
    channel_of,
    client_address,
    identity_of,
    rate_limit,
    require_recorded,
)
from chiffon.api.context import ApiContext, context
from chiffon.api.problems import RUN_NOT_FOUND, answers
from chiffon.api.v1.models import Body
from chiffon.errors import ChiffonError
from chiffon.runs import (
    Page,
    PlanPreview,
    RunDescription,
    RunFilters,
    RunHandle,
    RunNotFound,
    RunSummary,
)
from chiffon.runs.listing import MAX_LIMIT

router = APIRouter(tags=["runs"])

Context = Annotated[ApiContext, Depends(context)]
RunId = Annotated[
    str,
    Path(
        min_length=4, max_length=36, pattern=r"^[0-9a-fA-F-]+$",
        description="A run's id, or a unique prefix of it (dashes optional).",
    ),
]  # fmt: skip
DEFAULT_WINDOW = dt.timedelta(days=7)
"""What a listing without ``since``, ``until`` or a cursor covers: a homelab's week."""

Planner = Literal["auto", "catalog", "llm"]
_IDEMPOTENCY = uuid.UUID("9f1c3c52-8a4e-4f0e-9a57-2f4c1f0d6b1e")


class SubmitRun(Body):
    request: str = Field(min_length=1, max_length=4000, description="What to do, in words.")
    planner: Planner = "auto"
    high_value: bool = Field(
        default=False, description="Route planning to the external model (when configured)."
    )
    dry_run: bool = Field(
        default=True, description="Preview the plan with Ansible's check mode before approval."
    )


class Submitted(BaseModel):
    id: str
    location: str
    events: str


class PreviewRequest(Body):
    request: str = Field(min_length=1, max_length=4000)
    planner: Planner = "auto"


@router.post(
    "/runs",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit a request: the run plans, then waits for a decision on its plan",
)
async def submit(
    body: SubmitRun,
    request: Request,
    response: Response,
    principal: Runner,
    ctx: Context,
    _: Annotated[None, Depends(rate_limit("submit"))],
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="Submitting again with the same key answers the first run.",
        ),
    ] = None,
) -> Submitted:
    by = identity_of(request, principal)
    run_id = None if idempotency_key is None else _idempotent_id(principal.user, idempotency_key)
    handle = await _existing(ctx, run_id)
    if handle is None:
        try:
            handle = await ctx.system.runs.submit(
                body.request, by=by, planner=body.planner, high_value=body.high_value,
                dry_run=body.dry_run, run_id=run_id,
            )  # fmt: skip
        except Exception:
            # The same key submitted twice at once: the other one made the run.
            handle = await _existing(ctx, run_id)
            if handle is None:
                raise
    location = f"/api/v1/runs/{handle.id}"
    response.headers["Location"] = location
    return Submitted(id=str(handle.id), location=location, events=f"{location}/events")


def _idempotent_id(user: str, key: str) -> uuid.UUID:
    """The run id an idempotency key stands for: the same user and key, the same run, with
    nothing to store (a second submit finds the run the first one made)."""
    return uuid.uuid5(_IDEMPOTENCY, f"{user}\n{key}")


async def _existing(ctx: ApiContext, run_id: uuid.UUID | None) -> RunHandle | None:
    if run_id is None:
        return None
    try:
        return await ctx.system.runs.get(run_id)
    except RunNotFound:
        return None


@router.get(
    "/runs", summary="Runs, newest first, a page at a time", response_model=Page[RunSummary]
)
async def list_runs(
    principal: Reader,
    ctx: Context,
    status_: Annotated[
        list[str] | None, Query(alias="status", max_length=12, description="Any of these states.")
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Created at or after. Default: a week ago.")
    ] = None,
    until: Annotated[AwareDatetime | None, Query(description="Created before.")] = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    host: Annotated[str | None, Query(max_length=200)] = None,
    playbook: Annotated[str | None, Query(max_length=200)] = None,
    approver: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[
        str | None, Query(max_length=500, description="A page's next_cursor.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    if since is None and until is None:
        since = dt.datetime.now(dt.UTC) - DEFAULT_WINDOW
    filters = RunFilters(
        status=tuple(status_ or ()), since=since, until=until, service=service, host=host,
        playbook=playbook, approver=approver,
    )  # fmt: skip
    page = await ctx.system.runs.list(filters, cursor=cursor, limit=limit)
    # Serialised here: FastAPI would validate the page again against its own model first.
    return Response(page.model_dump_json(), media_type="application/json")


@router.get(
    "/runs/{run_id}",
    summary="One run: plans, decisions, steps, why it waits, cost",
    responses=RUN_NOT_FOUND,
)
async def describe(run_id: RunId, principal: Reader, ctx: Context) -> RunDescription:
    handle = await ctx.system.runs.get(run_id)
    return await handle.describe()


@router.post(
    "/runs/{run_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel a run: steps not started do not start, running ones are stopped",
    responses=answers({
        404: "No run has this id (or id prefix)",
        409: "The run has already ended",
    }),
)  # fmt: skip
async def cancel(
    run_id: RunId,
    request: Request,
    principal: Annotated[Principal, Depends(require_recorded("run", "cancel"))],
    ctx: Context,
) -> Submitted:
    handle = await ctx.system.runs.get(run_id)
    try:
        await handle.cancel(by=identity_of(request, principal))
    except ChiffonError as refused:
        await ctx.access.record_refusal(
            action="cancel", code=refused.code, reason=str(refused),
            channel=channel_of(principal), target=str(handle.id), user=principal.user,
            token_id=principal.token_id, address=client_address(request),
            user_agent=request.headers.get("user-agent"),
        )  # fmt: skip
        raise
    location = f"/api/v1/runs/{handle.id}"
    return Submitted(id=str(handle.id), location=location, events=f"{location}/events")


@router.post("/plan-preview", summary="What a request would be planned as; nothing is submitted")
async def preview(body: PreviewRequest, principal: Runner, ctx: Context) -> PlanPreview:
    return await ctx.system.runs.preview(body.request, planner=body.planner)
