"""The tokens page: a user's bearer tokens (an admin sees everyone's) with their last use;
make one (its secret shown on this answer only), revoke one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chiffon.access import SCOPES, AccessError, included, parse_scope
from chiffon.api.context import ApiContext, context
from chiffon.api.problems import ProblemError
from chiffon.web.run_pages import waiting
from chiffon.web.templating import render
from chiffon.web.viewer import PageViewer, Viewer, form_viewer

router = APIRouter(include_in_schema=False)
Context = Annotated[ApiContext, Depends(context)]


@router.get("/tokens")
async def tokens_page(request: Request, ctx: Context, viewer: PageViewer) -> HTMLResponse:
    return await _page(request, ctx, viewer)


@router.post("/tokens")
async def create_token(
    request: Request,
    ctx: Context,
    viewer: Annotated[Viewer, form_viewer("read")],
    scope: Annotated[str, Form(max_length=10)],
    expires: Annotated[str, Form(max_length=5)] = "",
) -> HTMLResponse:
    try:
        chosen = parse_scope(scope)
    except ValueError as exc:
        raise ProblemError(422, "invalid_request", str(exc)) from None
    if expires and not expires.isdigit():
        raise ProblemError(422, "invalid_request", f"expires {expires!r} is not a number of days")
    lifetime = dt.timedelta(days=int(expires)) if expires else None
    try:
        info, secret = await ctx.access.create_token(viewer.principal.user, chosen, lifetime)
    except AccessError as exc:
        return await _page(request, ctx, viewer, notices=(("error", str(exc)),), status_code=403)
    return await _page(request, ctx, viewer, secret=secret, secret_for=f"{info.user} ({scope})")


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(
    ctx: Context, viewer: Annotated[Viewer, form_viewer("read")], token_id: str
) -> Response:
    mine = {t.id for t in await ctx.access.tokens(viewer.principal.user)}
    if token_id not in mine and not viewer.may("admin"):
        raise ProblemError(403, "insufficient_scope", "only an admin revokes another's token")
    await ctx.access.revoke_token(token_id)
    return RedirectResponse("/tokens", status_code=303)


async def _page(
    request: Request,
    ctx: ApiContext,
    viewer: Viewer,
    *,
    notices: tuple[tuple[str, str], ...] = (),
    status_code: int = 200,
    secret: str | None = None,
    secret_for: str = "",
) -> HTMLResponse:
    admin = viewer.may("admin")
    tokens = await ctx.access.tokens(None if admin else viewer.principal.user)
    return render(
        request, "tokens.html", viewer=viewer, title="Tokens", section="/tokens",
        waiting=await waiting(ctx), notices=notices, status_code=status_code, tokens=tokens,
        can_admin=admin, scopes=sorted(included(viewer.principal.scope), key=SCOPES.index),
        secret=secret, secret_for=secret_for,
    )  # fmt: skip
