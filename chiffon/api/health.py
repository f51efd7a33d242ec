"""``/health`` (the process answers: never touches the database) and ``/ready`` (it can do
its work: the database answers at the schema this version needs, and the broker is connected
when one is configured). A load balancer or compose healthcheck polls the first; a deployment
waits for the second."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import column, select, table

from chiffon.api.context import ApiContext, context
from chiffon.errors import ChiffonError

router = APIRouter(tags=["health"])

_alembic_version = table("alembic_version", column("version_num"))


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    database: str
    """``ok``, or why not."""
    broker: str
    """``ok``, ``not configured``, or why not."""


@router.get("/health", summary="Liveness: the process answers")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    summary="Readiness: database migrated, broker connected when configured",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready, and why"}},
)
async def ready(ctx: Annotated[ApiContext, Depends(context)]) -> Readiness | JSONResponse:
    from chiffon.journal.migrate import HEAD

    database = "ok"
    try:
        row = await ctx.system.database.fetch_one(select(_alembic_version.c.version_num))
        found = None if row is None else row["version_num"]
        if found != HEAD:
            database = f"schema at {found or 'nothing'}, this version needs {HEAD}"
    except ChiffonError as exc:
        database = str(exc)
    connected = ctx.system.broker_connected
    broker = "not configured" if connected is None else "ok" if connected else "disconnected"
    answer = Readiness(
        ready=database == "ok" and broker != "disconnected", database=database, broker=broker
    )
    if not answer.ready:
        return JSONResponse(answer.model_dump(), status_code=503)
    return answer
