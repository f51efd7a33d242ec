"""Logging in and out of the dashboard.

The login form has no session to take a CSRF token from, so it carries one of its own: a
random value set as a short-lived cookie (``chiffon_login``, HttpOnly, SameSite=Strict, for
``/login`` only) and repeated in the form; a post whose two copies differ, or that comes from
another ``Origin``, is refused. A correct password opens a session (``Access.open_session``)
whose id becomes the ``chiffon_session`` cookie: HttpOnly, SameSite=Strict, Secure when the
server speaks TLS.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chiffon.api.auth import SESSION_COOKIE, check_origin, rate_limit
from chiffon.api.context import ApiContext, context
from chiffon.api.problems import ProblemError
from chiffon.web.templating import render
from chiffon.web.viewer import Viewer, form_viewer

LOGIN_COOKIE = "chiffon_login"
LOGIN_COOKIE_SECONDS = 3600

router = APIRouter(include_in_schema=False)
Context = Annotated[ApiContext, Depends(context)]


def _local(target: str) -> str:
    """``target`` when it is a path of this server, else the runs page (no open redirect)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/runs"


@router.get("/login")
async def login_page(request: Request, ctx: Context, next: str = "/runs") -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None and await ctx.access.session(cookie) is not None:
        return RedirectResponse(_local(next), status_code=303)
    return _form(request, ctx, next=_local(next))


@router.post("/login", dependencies=[Depends(rate_limit("login"))])
async def login(
    request: Request,
    ctx: Context,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/runs",
) -> Response:
    check_origin(request, ctx.options.trusted_origins)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        raise ProblemError(403, "csrf_failed", "the login form's CSRF token is missing or wrong")
    principal = await ctx.access.check_password(name, password)
    if principal is None:
        return _form(
            request, ctx, next=_local(next), name=name, status_code=401,
            error="Wrong user name or password.",
        )  # fmt: skip
    session = await ctx.access.open_session(principal.user)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, session.id, expires=session.expires_at, path="/", httponly=True,
        samesite="strict", secure=ctx.options.secure_cookies,
    )  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(ctx: Context, viewer: Annotated[Viewer, form_viewer("read")]) -> Response:
    await ctx.access.close_session(viewer.session.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _form(
    request: Request,
    ctx: ApiContext,
    *,
    next: str,
    name: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", viewer=None, title="Log in", csrf=token, next=next, name=name,
        error=error, status_code=status_code,
    )  # fmt: skip
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=LOGIN_COOKIE_SECONDS, path="/login", httponly=True,
        samesite="strict", secure=ctx.options.secure_cookies,
    )  # fmt: skip
    return response
