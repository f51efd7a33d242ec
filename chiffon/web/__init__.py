"""The dashboard: server-rendered pages (Jinja2) over ``system.runs``, live through htmx and
its server-sent-events extension (vendored under ``static/vendor``; no Node at build or run
time). Every page reads without JavaScript; with it, a run's output, status and decisions
follow the run as it happens.

``chiffon.api.create_app`` mounts ``router(system)`` next to the HTTP API; the pages share its
authentication (``chiffon.api.auth``), its problem documents and its event streams. Only
``chiffon serve`` imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

if TYPE_CHECKING:
    from chiffon.assembly import System


def router(system: System) -> APIRouter:
    """The dashboard's pages and static files. The pages reach ``system`` through the app's
    ``ApiContext`` (``create_app`` made it over the same system), so nothing is kept here."""
    from chiffon.web import login, record_pages, run_pages, token_pages
    from chiffon.web.templating import STATIC

    pages = APIRouter(include_in_schema=False)
    for part in (login.router, run_pages.router, record_pages.router, token_pages.router):
        pages.include_router(part)
    pages.mount("/static", StaticFiles(directory=STATIC), name="static")
    return pages
