"""``create_app``: the HTTP face of a running ``System``, as a FastAPI application.

Routes parse and render; what they do is the application layer's (``system.runs``) and the
identity layer's (``chiffon.access``). The dashboard (``chiffon.web``) mounts its pages on the
same app, sharing its auth and its problem documents.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI

from chiffon.access import Access
from chiffon.api import health, metrics, problems, v1
from chiffon.api.context import ApiContext, ApiOptions
from chiffon.api.limits import BodyLimit, RateLimiter

if TYPE_CHECKING:
    from chiffon.assembly import System

OPENAPI_URL = "/api/openapi.json"


def create_app(
    system: System, *, options: ApiOptions | None = None, stop: anyio.Event | None = None
) -> FastAPI:
    """The app over ``system`` (started). ``stop``, once set, ends every open event stream:
    ``chiffon serve`` sets it when it begins to shut down. Call inside the event loop."""
    options = options or ApiOptions()
    app = build_app(options)
    app.state.chiffon = ApiContext(
        system=system, access=Access(system.database), options=options,
        stop=stop if stop is not None else anyio.Event(), limiter=RateLimiter(),
    )  # fmt: skip
    _mount_web(app, system)
    return app


def build_app(options: ApiOptions) -> FastAPI:
    """The API's routes, error handling and limits, with no system behind them yet: what
    ``create_app`` serves, and what the OpenAPI document is made from."""
    app = FastAPI(
        title="Chiffon",
        version=importlib.metadata.version("chiffon"),
        summary="Plain-language infrastructure requests, planned, approved, executed, audited.",
        openapi_url=OPENAPI_URL,
        docs_url="/api/docs",
        redoc_url=None,
    )
    problems.install(app)
    openapi = app.openapi

    def documented() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems.problems_only(openapi())
        return app.openapi_schema

    app.openapi = documented  # type: ignore[method-assign]
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(v1.router, prefix="/api/v1")
    too_large = problems.problem_response(
        413, "body_too_large", f"the request body is over {options.max_body_bytes} bytes"
    )
    app.add_middleware(BodyLimit, max_bytes=options.max_body_bytes, too_large=too_large)
    return app


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, as checked in at ``docs/openapi.json`` (``python -m
    chiffon.api.app > docs/openapi.json`` writes it)."""
    return build_app(ApiOptions()).openapi()


def _mount_web(app: FastAPI, system: System) -> None:
    """The dashboard's pages, when ``chiffon.web`` provides its router."""
    try:
        web = importlib.import_module("chiffon.web")
    except ModuleNotFoundError as exc:
        if exc.name != "chiffon.web":
            raise
        return
    router = getattr(web, "router", None)
    if router is not None:
        app.include_router(router(system))


if __name__ == "__main__":
    import json
    import sys

    json.dump(openapi_document(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
