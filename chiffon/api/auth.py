"""Who is asking: ``require(scope)``, the dependency every protected route and page uses.

A request proves who it is by a bearer token (``Authorization: Bearer chf_…``: programs) or by
the ``chiffon_session`` cookie (browsers). A cookie is sent by the browser on its own, so an
unsafe request (anything but GET, HEAD, OPTIONS) that relies on one must also carry the
session's CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``) and come from the
server's own ``Origin``. A bearer token is never sent on its own, so it needs neither.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from chiffon.access import InsufficientScope, Principal, Scope, Unauthenticated
from chiffon.api.context import ApiContext, context
from chiffon.api.limits import RateLimited
from chiffon.api.problems import ProblemError
from chiffon.errors import ChiffonError
from chiffon.runs import Identity

SESSION_COOKIE = "chiffon_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN_ID = re.compile(r"chf_([0-9a-f]{12})_")

bearer_scheme = HTTPBearer(auto_error=False, description="A token from `chiffon tokens create`.")
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="A dashboard session (log in at /login)."
)


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency answering the ``Principal`` of a request whose credential grants
    ``scope``: 401 without a valid one, 403 when its scope falls short or, for a browser, the
    CSRF token or Origin is wrong. The principal is also left in ``request.state.principal``.
    """

    async def dependency(
        request: Request,
        ctx: Annotated[ApiContext, Depends(context)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        cookie: Annotated[str | None, Depends(cookie_scheme)],
    ) -> Principal:
        principal = await authenticate(request, ctx, bearer, cookie)
        request.state.principal = principal
        if not principal.allows(scope):
            raise InsufficientScope(principal.user, scope)
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


def require_recorded(scope: Scope, action: str) -> Callable[..., Awaitable[Principal]]:
    """``require(scope)`` for a route acting on a run's approval (a decision, a cancel): a
    request refused here — no or a bad, expired or revoked credential, a forged CSRF token,
    a foreign ``Origin``, a scope short of ``scope`` — is also kept as a refused attempt on
    the run (``Access.record_refusal``) before its problem document goes out. ``action`` is
    recorded, unless the body names the decision (``approve``, ``reject``, ``modify``)."""

    async def dependency(
        request: Request,
        ctx: Annotated[ApiContext, Depends(context)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        cookie: Annotated[str | None, Depends(cookie_scheme)],
    ) -> Principal:
        principal: Principal | None = None
        try:
            principal = await authenticate(request, ctx, bearer, cookie)
            request.state.principal = principal
            if not principal.allows(scope):
                raise InsufficientScope(principal.user, scope)
        except (ChiffonError, ProblemError) as refused:
            token = None if bearer is None else _TOKEN_ID.match(bearer.credentials)
            await ctx.access.record_refusal(
                action=await _action_of(request, action), code=refused.code,
                reason=str(refused), channel="web" if bearer is None and cookie else "api",
                target=await _run_of(ctx, request.path_params.get("run_id")),
                user=None if principal is None else principal.user,
                token_id=token.group(1) if token else None,
                address=client_address(request),
                user_agent=(request.headers.get("user-agent") or "")[:500] or None,
            )  # fmt: skip
            raise
        return principal

    dependency.__name__ = f"require_{scope}_recorded"
    return dependency


async def _run_of(ctx: ApiContext, text: str | None) -> str | None:
    """The full id of the run ``text`` names (an id or a prefix), else ``text`` itself."""
    if text is None:
        return None
    try:
        return str((await ctx.system.runs.get(text)).id)
    except ChiffonError:
        return text


async def _action_of(request: Request, default: str) -> str:
    """The decision a refused request's body names, else ``default``."""
    try:
        named = (await request.json()).get("decision") if not _is_form(request) else None
    except (ValueError, AttributeError, UnicodeDecodeError):
        return default
    return named if named in ("approve", "reject", "modify") else default


async def authenticate(
    request: Request,
    ctx: ApiContext,
    bearer: HTTPAuthorizationCredentials | None,
    cookie: str | None,
) -> Principal:
    """The request's principal, by token or session. Raises ``Unauthenticated`` (and its
    ``TokenExpired``/``TokenRevoked``) or a 403 ``ProblemError`` for a failed CSRF check."""
    if bearer is not None:
        return await ctx.access.authenticate(bearer.credentials)
    if request.headers.get("authorization"):
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    if cookie is None:
        raise Unauthenticated()
    found = await ctx.access.session(cookie)
    if found is None:
        raise Unauthenticated("the session has ended: log in again")
    principal, session = found
    request.state.session = session
    if request.method not in SAFE_METHODS:
        check_origin(request, ctx.options.trusted_origins)
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and _is_form(request):
            form = await request.form()
            field = form.get(CSRF_FIELD)
            sent = field if isinstance(field, str) else None
        if sent is None or not hmac.compare_digest(sent, session.csrf_token):
            raise ProblemError(403, "csrf_failed", "the request's CSRF token is missing or wrong")
    return principal


def check_origin(request: Request, trusted: tuple[str, ...] = ()) -> None:
    """Refuse (403 ``foreign_origin``) a browser's unsafe request whose ``Origin`` is not this
    server (the ``Host`` it was sent to) or a trusted origin; a missing ``Origin`` is refused
    too: browsers send it with every POST."""
    origin = request.headers.get("origin")
    if origin is None:
        raise ProblemError(403, "foreign_origin", "the request has no Origin header")
    if origin in trusted:
        return
    host = request.headers.get("host", "")
    if urlsplit(origin).netloc != host or not host:
        raise ProblemError(403, "foreign_origin", f"requests from {origin} are not accepted")


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def channel_of(principal: Principal) -> Literal["api", "web"]:
    """The approval channel a principal acts through: a browser session is the dashboard."""
    return "web" if principal.via == "session" else "api"


def client_address(request: Request) -> str | None:
    return None if request.client is None else request.client.host


def identity_of(request: Request, principal: Principal) -> Identity:
    """Who acts, for the application layer: the authenticated user (never a body field), the
    channel, the token, the client's address and user agent."""
    return Identity(
        name=principal.user,
        channel=channel_of(principal),
        token_id=principal.token_id,
        address=client_address(request),
        user_agent=(request.headers.get("user-agent") or "")[:500] or None,
    )


def rate_limit(bucket: Literal["login", "submit"]) -> Callable[..., Awaitable[None]]:
    """A dependency spending one request of the client's ``bucket`` (login: per address; run
    submission: per user when known, else per address); 429 with ``Retry-After`` when spent."""

    async def dependency(request: Request, ctx: Annotated[ApiContext, Depends(context)]) -> None:
        principal = getattr(request.state, "principal", None)
        client = principal.user if isinstance(principal, Principal) else client_address(request)
        per_minute = (
            ctx.options.login_per_minute if bucket == "login" else ctx.options.submit_per_minute
        )
        try:
            ctx.limiter.take(bucket, client or "-", per_minute)
        except RateLimited as exc:
            raise ProblemError(
                429,
                "rate_limited",
                str(exc),
                headers={"Retry-After": str(max(1, round(exc.retry_after_s + 0.5)))},
            ) from None

    dependency.__name__ = f"rate_limit_{bucket}"
    return dependency


Reader = Annotated[Principal, Depends(require("read"))]
Runner = Annotated[Principal, Depends(require("run"))]
Approver = Annotated[Principal, Depends(require("approve"))]
Admin = Annotated[Principal, Depends(require("admin"))]
