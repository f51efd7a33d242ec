"""The pages over Chiffon's records: agents, audit (failures, changes to a service), playbook
suggestions (accept, dismiss) and dead letters, all through ``system.runs``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chiffon.api.context import ApiContext, context
from chiffon.errors import ChiffonError
from chiffon.web.run_pages import waiting
from chiffon.web.templating import render
from chiffon.web.viewer import PageViewer, Viewer, form_viewer

FAILURES_WINDOW = dt.timedelta(days=7)

router = APIRouter(include_in_schema=False)
Context = Annotated[ApiContext, Depends(context)]


@router.get("/agents")
async def agents_page(request: Request, ctx: Context, viewer: PageViewer) -> HTMLResponse:
    return render(
        request, "agents.html", viewer=viewer, title="Agents", section="/agents",
        waiting=await waiting(ctx), agents=await ctx.system.runs.agents(),
    )  # fmt: skip


@router.get("/audit")
async def audit_page(
    request: Request,
    ctx: Context,
    viewer: PageViewer,
    service: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    runs = ctx.system.runs
    failures = await runs.failures(since=FAILURES_WINDOW, limit=100)
    changes = await runs.changes(service, limit=100) if service else ()
    return render(
        request, "audit.html", viewer=viewer, title="Audit", section="/audit",
        waiting=await waiting(ctx), failures=failures, failures_window="7 days",
        service=service, changes=changes, services=_services(ctx),
    )  # fmt: skip


def _services(ctx: ApiContext) -> list[str]:
    """The catalog's services, to choose from (none in a server without a catalog)."""
    try:
        catalog = ctx.system.domain.catalog
    except RuntimeError:
        return []
    return sorted({s for entry in catalog.entries.values() for s in entry.services})


@router.get("/suggestions")
async def suggestions_page(request: Request, ctx: Context, viewer: PageViewer) -> HTMLResponse:
    return await _suggestions(request, ctx, viewer)


async def _suggestions(
    request: Request,
    ctx: ApiContext,
    viewer: Viewer,
    *,
    notices: tuple[tuple[str, str], ...] = (),
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request, "suggestions.html", viewer=viewer, title="Suggestions",
        section="/suggestions", waiting=await waiting(ctx), notices=notices,
        status_code=status_code, suggestions=await ctx.system.runs.suggestions(),
        can_admin=viewer.may("admin"),
    )  # fmt: skip


@router.post("/suggestions/{suggestion_id}/accept")
async def accept(
    request: Request,
    ctx: Context,
    viewer: Annotated[Viewer, form_viewer("admin")],
    suggestion_id: int,
) -> Response:
    try:
        done = await ctx.system.runs.accept_suggestion(suggestion_id)
    except ChiffonError as exc:
        return await _suggestions(
            request, ctx, viewer, notices=(("error", str(exc)),), status_code=409
        )
    return await _suggestions(
        request, ctx, viewer,
        notices=(("ok", f"Suggestion {done.id} accepted: commit {done.commit} on branch "
                        f"{done.branch}."),),
    )  # fmt: skip


@router.post("/suggestions/{suggestion_id}/dismiss")
async def dismiss(
    ctx: Context,
    viewer: Annotated[Viewer, form_viewer("admin")],
    suggestion_id: int,
) -> Response:
    await ctx.system.runs.dismiss_suggestion(suggestion_id)
    return RedirectResponse("/suggestions", status_code=303)


@router.get("/dead-letters")
async def dead_letters_page(request: Request, ctx: Context, viewer: PageViewer) -> HTMLResponse:
    return render(
        request, "dead_letters.html", viewer=viewer, title="Dead letters",
        section="/dead-letters", waiting=await waiting(ctx),
        letters=await ctx.system.runs.dead_letters(limit=200),
    )  # fmt: skip
