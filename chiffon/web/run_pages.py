"""The pages about runs: the list, one run (with its live output and its decision), the new
request form with its plan preview, the approvals inbox and the raw output download."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from chiffon.access import AccessError, InsufficientScope
from chiffon.api.auth import SESSION_COOKIE, authenticate, client_address, rate_limit
from chiffon.api.context import ApiContext, context
from chiffon.api.problems import ProblemError
from chiffon.api.sse import EventStreamResponse, resume_after
from chiffon.errors import ChiffonError
from chiffon.runs import (
    BadCursor,
    RunDescription,
    RunEvent,
    RunFilters,
    RunHandle,
    RunNotFound,
)
from chiffon.web import inbox, live, output
from chiffon.web.panels import Panels
from chiffon.web.templating import fragment, render
from chiffon.web.viewer import PageViewer, Viewer, form_viewer

CAP = 1000
"""Lines of output a run page holds; the raw download has them all."""

STATUSES = ("received", "planning", "awaiting_approval", "approved", "running", "paused",
            "succeeded", "failed", "rejected", "expired", "cancelled", "interrupted")  # fmt: skip
WINDOWS = (("24h", "last 24 hours"), ("7d", "last 7 days"), ("30d", "last 30 days"),
           ("all", "all time"))  # fmt: skip
WINDOW_SPANS = {"24h": dt.timedelta(days=1), "7d": dt.timedelta(days=7),
                "30d": dt.timedelta(days=30)}  # fmt: skip
DEFAULT_WINDOW = "7d"

router = APIRouter(include_in_schema=False)
Context = Annotated[ApiContext, Depends(context)]


async def waiting(ctx: ApiContext) -> int:
    """How many plans await a decision (the count in the navigation)."""
    page = await ctx.system.runs.list(RunFilters(status=("awaiting_approval",)), limit=100)
    return len(page.items)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs")
async def runs_page(
    request: Request,
    ctx: Context,
    viewer: PageViewer,
    status: Annotated[str, Query(max_length=40)] = "",
    window: Annotated[str, Query(max_length=8)] = DEFAULT_WINDOW,
    service: Annotated[str, Query(max_length=200)] = "",
    host: Annotated[str, Query(max_length=200)] = "",
    playbook: Annotated[str, Query(max_length=200)] = "",
    approver: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    span = WINDOW_SPANS.get(window)
    filters = RunFilters(
        status=(status,) if status in STATUSES else (),
        since=dt.datetime.now(dt.UTC) - span if span else None,
        service=service or None,
        host=host or None,
        playbook=playbook or None,
        approver=approver or None,
    )
    notices: tuple[tuple[str, str], ...] = ()
    try:
        page = await ctx.system.runs.list(filters, cursor=cursor or None, limit=50)
    except BadCursor as exc:
        notices = (("error", f"{exc}: showing the first page."),)
        page = await ctx.system.runs.list(filters, limit=50)
    query = {k: v for k, v in request.query_params.items() if k != "cursor"}
    next_href = "/runs?" + urlencode({**query, "cursor": page.next_cursor or ""})
    return render(
        request, "runs.html", viewer=viewer, title="Runs", section="/runs",
        waiting=await waiting(ctx), notices=notices, page=page, filters=filters,
        statuses=STATUSES, windows=WINDOWS, window=window if span or window == "all"
        else DEFAULT_WINDOW, next_href=next_href,
    )  # fmt: skip


@router.get("/approvals")
async def approvals_page(request: Request, ctx: Context, viewer: PageViewer) -> HTMLResponse:
    page = await ctx.system.runs.list(RunFilters(status=("awaiting_approval",)), limit=100)
    return render(
        request, "approvals.html", viewer=viewer, title="Approvals", section="/approvals",
        waiting=len(page.items), page=page,
    )  # fmt: skip


@router.get("/approvals/list")
async def approvals_list(ctx: Context, viewer: PageViewer) -> HTMLResponse:
    """The inbox's table alone (with the navigation's count, out of band)."""
    return HTMLResponse(await _inbox_html(ctx))


@router.get("/approvals/live", response_model=None)
async def approvals_live(ctx: Context, viewer: PageViewer) -> EventStreamResponse[live.Message]:
    """The inbox's table again whenever a plan starts or stops waiting, in any process."""

    async def render() -> str:
        return await _inbox_html(ctx)

    return EventStreamResponse(
        inbox.messages(ctx.system.runs.log, render),
        stop=ctx.stop,
        heartbeat_s=ctx.options.heartbeat_s,
        encode=live.encode,
    )


async def _inbox_html(ctx: ApiContext) -> str:
    page = await ctx.system.runs.list(RunFilters(status=("awaiting_approval",)), limit=100)
    return fragment("fragments/approvals_list.html", page=page) + fragment(
        "fragments/waiting_count.html", waiting=len(page.items), oob=True
    )


@router.get("/runs/new")
async def new_request_page(request: Request, ctx: Context, viewer: PageViewer) -> HTMLResponse:
    return render(
        request, "new_request.html", viewer=viewer, title="New request", section="/runs/new",
        waiting=await waiting(ctx), request_text="", planner="auto", dry_run=True,
    )  # fmt: skip


@router.post("/runs/new", dependencies=[Depends(rate_limit("submit"))])
async def new_request(
    request: Request,
    ctx: Context,
    viewer: Annotated[Viewer, form_viewer("run")],
    text: Annotated[str, Form(alias="request", min_length=1, max_length=4000)],
    planner: Annotated[str, Form(max_length=10)] = "auto",
    action: Annotated[str, Form(max_length=10)] = "submit",
    dry_run: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    choice: Any = planner if planner in ("auto", "catalog", "llm") else "auto"
    if action == "preview":
        preview = await ctx.system.runs.preview(text, planner=choice)
        question = preview.question or "; ".join(preview.reasons) or None
        return render(
            request, "new_request.html", viewer=viewer, title="New request",
            section="/runs/new", waiting=await waiting(ctx), request_text=text,
            planner=choice, preview=preview if preview.plan else None, question=question,
            dry_run=dry_run == "on",
        )  # fmt: skip
    handle = await ctx.system.runs.submit(
        text, by=viewer.identity(request), planner=choice, dry_run=dry_run == "on"
    )
    return RedirectResponse(f"/runs/{handle.id}", status_code=303)


@router.get("/runs/{run_id}")
async def run_page(request: Request, ctx: Context, viewer: PageViewer, run_id: str) -> HTMLResponse:
    try:
        handle = await _handle(ctx, run_id)
    except RunNotFound as exc:  # an ambiguous prefix too
        return render(
            request, "error.html", viewer=viewer, title="No such run", section="/runs",
            status_code=404, heading="No such run", message=f"{exc}.", back="/runs",
        )  # fmt: skip
    if str(handle.id) != run_id:
        # A prefix: the page's address names the run in full (its links and stream do).
        return RedirectResponse(f"/runs/{handle.id}", status_code=303)  # type: ignore[return-value]
    return await _run_page(request, ctx, viewer, handle)


async def _run_page(
    request: Request,
    ctx: ApiContext,
    viewer: Viewer,
    handle: RunHandle,
    *,
    status_code: int = 200,
    notices: tuple[tuple[str, str], ...] = (),
) -> HTMLResponse:
    # Events first, then the description: the panels are at least as new as the last event
    # the page holds, and the stream sends whatever comes after it.
    tail = output.Tail(CAP)
    async for event in _stored(handle):
        tail.add(event)
    description = await handle.describe()
    return render(
        request, "run.html", viewer=viewer, title=f"Run {str(handle.id)[:8]}",
        section="/runs", status_code=status_code, notices=notices,
        waiting=await waiting(ctx), **run_page_context(viewer, description, tail),
    )  # fmt: skip


def run_page_context(
    viewer: Viewer, description: RunDescription, tail: output.Tail
) -> dict[str, Any]:
    """What ``run.html`` reads: the panels, the output the page starts with, the stream."""
    hosts = set(tail.hosts)
    for revision in description.revisions:
        for step in revision.steps:
            hosts.update(step.hosts)
    run_id = description.summary.id
    return {
        **Panels(viewer).context(description),
        "lines": "".join(tail.lines), "trimmed": tail.total - len(tail.lines),
        "last_event": tail.last, "cap": tail.cap, "all_hosts": sorted(hosts),
        "live_href": f"/runs/{run_id}/live",
    }  # fmt: skip


@router.get("/runs/{run_id}/live", response_model=None)
async def run_live(
    request: Request,
    ctx: Context,
    viewer: PageViewer,
    run_id: uuid.UUID,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> EventStreamResponse[live.Message]:
    handle = await _handle(ctx, str(run_id))
    start = resume_after(request, after)
    return EventStreamResponse(
        live.messages(handle, Panels(viewer), start),
        stop=ctx.stop,
        heartbeat_s=ctx.options.heartbeat_s,
        encode=live.encode,
    )


@router.get("/runs/{run_id}/output.txt")
async def run_output(ctx: Context, viewer: PageViewer, run_id: uuid.UUID) -> StreamingResponse:
    """Every line of the run's output, as text (what the page caps)."""
    handle = await _handle(ctx, str(run_id))

    async def text() -> AsyncIterator[bytes]:
        async for event in _stored(handle):
            line = output.line_text(event)
            if line is not None:
                yield (line + "\n").encode()

    return StreamingResponse(
        text(),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="chiffon-run-{run_id}.txt"'},
    )


@router.post("/runs/{run_id}/decision")
async def decide(
    request: Request,
    ctx: Context,
    run_id: uuid.UUID,
    decision: Annotated[Literal["approve", "reject", "modify"], Form()],
    revision: Annotated[int, Form(ge=1)],
    plan_hash: Annotated[str, Form(max_length=100)],
    feedback: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """A decision from the run page. Every refusal, the request's checks (session, CSRF,
    Origin, scope, four-eyes) included, is recorded against the run before it is answered,
    as the API records its own."""
    viewer = await _approver(request, ctx, run_id, decision)
    handle = await _handle(ctx, str(run_id))
    try:
        if ctx.options.four_eyes and decision == "approve":
            await _check_four_eyes(handle, viewer)
        await handle.decide(
            decision, plan_hash=plan_hash, revision=revision, by=viewer.identity(request),
            feedback=feedback.strip() or None,
        )  # fmt: skip
    except (ChiffonError, ProblemError) as exc:
        reason = exc.detail if isinstance(exc, ProblemError) else str(exc)
        await _refused(request, ctx, run_id, decision, exc.code, reason,
                       user=viewer.principal.user)  # fmt: skip
        status = {"approval_expired": 410, "four_eyes": 403}.get(exc.code, 409)
        return await _run_page(
            request, ctx, viewer, handle, status_code=status,
            notices=(("error", f"Not recorded: {reason}."),),
        )  # fmt: skip
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/cancel")
async def cancel(
    request: Request,
    ctx: Context,
    viewer: Annotated[Viewer, form_viewer("run")],
    run_id: uuid.UUID,
) -> Response:
    handle = await _handle(ctx, str(run_id))
    await handle.cancel(by=viewer.identity(request))
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


async def _check_four_eyes(handle: RunHandle, viewer: Viewer) -> None:
    requester = (await handle.describe()).summary.requested_by
    if requester == viewer.principal.user:
        raise ProblemError(403, "four_eyes", f"{requester} requested this run, and four-eyes "
                           "is on: someone else approves it")  # fmt: skip


async def _approver(request: Request, ctx: ApiContext, run_id: uuid.UUID, decision: str) -> Viewer:
    principal = None
    try:
        principal = await authenticate(request, ctx, None, request.cookies.get(SESSION_COOKIE))
        if not principal.allows("approve"):
            raise InsufficientScope(principal.user, "approve")
    except (ProblemError, AccessError) as exc:
        reason = exc.detail if isinstance(exc, ProblemError) else str(exc)
        user = None if principal is None else principal.user
        await _refused(request, ctx, run_id, decision, exc.code, reason, user=user)
        raise
    return Viewer(principal, request.state.session)


async def _refused(
    request: Request,
    ctx: ApiContext,
    run_id: uuid.UUID,
    action: str,
    code: str,
    reason: str,
    *,
    user: str | None = None,
) -> None:
    await ctx.access.record_refusal(
        action=action, code=code, reason=reason, channel="web", target=str(run_id),
        user=user, address=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )  # fmt: skip


async def _handle(ctx: ApiContext, run_id: str) -> RunHandle:
    """The run ``run_id`` names (in full or by a unique prefix); ``RunNotFound`` is the API's
    404 problem."""
    return await ctx.system.runs.get(run_id)


def _stored(handle: RunHandle) -> AsyncIterator[RunEvent]:
    """The run's events stored so far, without waiting for more."""
    return handle.events(follow=False)
