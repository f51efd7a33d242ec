"""Who is looking at a page: the logged-in browser session behind the ``chiffon_session``
cookie.

Pages (GET) need only the session: without one, the browser is sent to ``/login`` and back.
Forms (POST) go through the API's ``require(scope)``, which also checks the session's CSRF
token and the request's ``Origin``; the dashboard adds nothing to those checks, so the two
faces cannot disagree on what a forged request is.
"""

# No ``from __future__ import annotations`` here: FastAPI reads ``form_viewer``'s inner
# signature at run time, and its annotation names a dependency made in the closure.
import dataclasses
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request

from chiffon.access import BrowserSession, Principal, Scope
from chiffon.api.auth import SESSION_COOKIE, identity_of, require
from chiffon.api.context import ApiContext, context
from chiffon.runs import Identity


@dataclasses.dataclass(frozen=True, slots=True)
class Viewer:
    """A logged-in browser: its user and the CSRF token its forms carry."""

    principal: Principal
    session: BrowserSession

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def may(self, scope: Scope) -> bool:
        return self.principal.allows(scope)

    def identity(self, request: Request) -> Identity:
        """The approver or requester as the run records it: the session's user, on the web
        channel, with the browser's address and user agent."""
        return identity_of(request, self.principal)


def login_redirect(request: Request) -> HTTPException:
    """A 303 to the login page that comes back to ``request``'s page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(303, "log in first", headers={"Location": f"/login?next={quote(target)}"})


async def page_viewer(request: Request, ctx: Annotated[ApiContext, Depends(context)]) -> Viewer:
    """The viewer of a page; a browser without a live session is sent to log in."""
    cookie = request.cookies.get(SESSION_COOKIE)
    found = None if cookie is None else await ctx.access.session(cookie)
    if found is None:
        raise login_redirect(request)
    principal, session = found
    return Viewer(principal, session)


def form_viewer(scope: Scope) -> object:
    """A dependency for a form's POST: the API's checks (session, CSRF token, Origin, scope),
    then the viewer. A failed check is the API's 4xx problem document."""

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(require(scope))]
    ) -> Viewer:
        session = getattr(request.state, "session", None)
        if not isinstance(session, BrowserSession):
            # A bearer token posting a dashboard form: the form is for browsers.
            raise HTTPException(403, "dashboard forms need a browser session")
        return Viewer(principal, session)

    dependency.__name__ = f"form_viewer_{scope}"
    return Depends(dependency)


PageViewer = Annotated[Viewer, Depends(page_viewer)]
