"""The pages' Jinja2 environment and ``render``: every page gets the viewer, the CSRF token
for its forms, the navigation and the count of plans awaiting a decision."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from chiffon.web.viewer import Viewer

HERE = Path(__file__).parent
STATIC = HERE / "static"

NAV: tuple[tuple[str, str], ...] = (
    ("/runs", "Runs"),
    ("/approvals", "Approvals"),
    ("/runs/new", "New request"),
    ("/agents", "Agents"),
    ("/audit", "Audit"),
    ("/suggestions", "Suggestions"),
    ("/dead-letters", "Dead letters"),
    ("/tokens", "Tokens"),
)

SECURITY_HEADERS = {
    # Everything the pages load is their own: no inline script or style, no framing.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def ago(moment: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """``moment`` as people say it: ``just now``, ``5 min ago``, ``3 h ago``, ``in 2 h``."""
    if moment is None:
        return "—"
    seconds = ((now or dt.datetime.now(dt.UTC)) - moment).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now" if not future else "in a moment"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = f"{round(seconds / size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "just now"  # pragma: no cover - the loop always answers above 45 s


def utc(moment: dt.datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def show(value: Any) -> str:
    """A variable's value as it would be written in YAML-ish text: strings bare, the rest JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _static_url(name: str) -> str:
    return f"/static/{name}"


environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
    enable_async=False,
)
environment.filters.update(ago=ago, utc=utc, show=show)
environment.globals.update(static=_static_url, nav=NAV)


def fragment(name: str, **context: Any) -> str:
    """A template rendered on its own (a live update, an out-of-band swap)."""
    return environment.get_template(name).render(**context)


def render(
    request: Request,
    template: str,
    *,
    viewer: Viewer | None,
    title: str,
    section: str = "",
    status_code: int = 200,
    waiting: int = 0,
    notices: tuple[tuple[str, str], ...] = (),
    csrf: str = "",
    **context: Any,
) -> HTMLResponse:
    """Page ``template`` for ``viewer``; ``csrf`` is for the login page, which has none."""
    html = environment.get_template(template).render(
        request=request,
        viewer=viewer.principal if viewer else None,
        csrf=viewer.csrf_token if viewer else csrf,
        title=title,
        section=section,
        waiting=waiting,
        notices=notices,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
