"""Decisions on a run's plan, and the run's events as server-sent events.

A decision names the plan hash and revision it was made on; the approver is the
authenticated user, never a body field. A refused attempt (no ``approve`` scope, the
requester approving their own run under four-eyes, a stale revision, an expired or already
decided plan) is answered with its problem document and recorded with who tried, through
what, from where.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, model_validator

from chiffon.access import InsufficientScope, Principal
from chiffon.api.auth import Reader, channel_of, client_address, identity_of, require_recorded
from chiffon.api.context import ApiContext, context
from chiffon.api.problems import RUN_NOT_FOUND, ProblemError, answers
from chiffon.api.sse import MEDIA_TYPE, EventStreamResponse, resume_after
from chiffon.api.v1.models import Body
from chiffon.api.v1.runs import RunId
from chiffon.errors import ChiffonError
from chiffon.runs import DecisionRecord, RunHandle

router = APIRouter(tags=["runs"])

Context = Annotated[ApiContext, Depends(context)]
Decider = Annotated[Principal, Depends(require_recorded("read", "decide"))]
"""Whoever may try: the route checks ``approve`` itself, to record the decision refused."""


class DecisionBody(Body):
    decision: Literal["approve", "reject", "modify"]
    plan_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="The plan decided on.")
    revision: int = Field(ge=0, le=10_000, description="The plan revision decided on.")
    feedback: str | None = Field(
        default=None, max_length=4000, description="What to change (modify) or why (reject)."
    )

    @model_validator(mode="after")
    def _modify_says_what(self) -> DecisionBody:
        if self.decision == "modify" and not self.feedback:
            raise ValueError("a modify needs feedback: what should the plan do differently?")
        return self


@router.post(
    "/runs/{run_id}/decisions",
    summary="Approve, reject or modify the plan awaiting approval",
    responses=answers({
        404: "No run has this id (or id prefix)",
        409: "Stale revision (with the current one), already decided, or not awaiting approval",
        410: "The approval window closed",
    }),
)  # fmt: skip
async def decide(
    run_id: RunId, body: DecisionBody, request: Request, principal: Decider, ctx: Context
) -> DecisionRecord:
    handle = await ctx.system.runs.get(run_id)
    try:
        if not principal.allows("approve"):
            raise InsufficientScope(principal.user, "approve")
        if ctx.options.four_eyes and body.decision == "approve":
            await _check_four_eyes(handle, principal)
        return await handle.decide(
            body.decision, plan_hash=body.plan_hash, revision=body.revision,
            by=identity_of(request, principal), feedback=body.feedback,
        )  # fmt: skip
    except (ChiffonError, ProblemError) as refused:
        code = refused.code
        await ctx.access.record_refusal(
            action=body.decision, code=code, reason=str(refused), channel=channel_of(principal),
            target=str(handle.id), user=principal.user, token_id=principal.token_id,
            address=client_address(request), user_agent=request.headers.get("user-agent"),
        )  # fmt: skip
        raise


async def _check_four_eyes(handle: RunHandle, principal: Principal) -> None:
    described = await handle.describe()
    if described.summary.requested_by == principal.user:
        raise ProblemError(
            403, "four_eyes",
            f"{principal.user} requested this run, and four-eyes is on: someone else approves it",
        )  # fmt: skip


@router.get(
    "/runs/{run_id}/events",
    summary="The run's events as server-sent events; Last-Event-ID resumes after an event",
    response_model=None,
    responses={200: {"content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
                     "description": "An event stream: id, event (the kind), data (JSON); a "
                                    "final `end` event when the run's events end"},
               **RUN_NOT_FOUND},
)  # fmt: skip
async def events(
    run_id: RunId,
    request: Request,
    principal: Reader,
    ctx: Context,
    after: Annotated[
        int | None, Query(ge=0, description="Start after this event id (Last-Event-ID wins).")
    ] = None,
) -> EventStreamResponse[object]:
    handle = await ctx.system.runs.get(run_id)
    start = resume_after(request, after)
    return EventStreamResponse(
        handle.events(after=start), stop=ctx.stop, heartbeat_s=ctx.options.heartbeat_s
    )
