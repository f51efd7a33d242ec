"""The baselines of ``chiffon bench api``: the same answers from a bare FastAPI app on uvicorn.

- ``GET /api/v1/runs?limit=N``: the listing's query (the runs of the last week, newest first,
  with their current plan) through a raw asyncpg pool of the journal's size, its rows as
  JSON. No authentication, no models, no cursor: what FastAPI, uvicorn and asyncpg cost
  for the same rows.
- ``GET /events``: a server-sent event stream fed from memory; ``broadcast`` hands each
  event to every open stream (no database, no event ids from a journal).
- ``GET /ready``: an answer at all, for the start-up time of a bare process
  (``python -m chiffon.bench.api_baseline`` serves it on a free loopback port).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import Response, StreamingResponse

LISTING = """
SELECT r.id, r.request, r.status, r.reason, r.created_at, r.updated_at, r.requested_by,
       r.services, p.plan
FROM runs r LEFT JOIN plans p ON p.run_id = r.id AND p.revision = r.revision
WHERE r.created_at >= $1
ORDER BY r.created_at DESC, r.id DESC
LIMIT $2
"""


class Subscribers:
    """The open event streams of the bare app, each a queue of encoded events."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[bytes]] = set()

    def broadcast(self, seq: int, kind: str, data: dict[str, Any]) -> None:
        body = json.dumps({"id": seq, "kind": kind, "data": data}, separators=(",", ":"))
        chunk = f"id: {seq}\nevent: {kind}\ndata: {body}\n\n".encode()
        for queue in self.queues:
            queue.put_nowait(chunk)


def bare_app(pool: Any = None) -> tuple[FastAPI, Subscribers]:
    """The bare app over an asyncpg ``pool`` (the listing needs one), and its streams."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    subscribers = Subscribers()

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.get("/api/v1/runs")
    async def runs(limit: int = Query(50, ge=1, le=500)) -> Response:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
        async with pool.acquire() as connection:
            rows = await connection.fetch(LISTING, since, limit + 1)
        items = [dict(row) for row in rows[:limit]]
        for item in items:
            item["plan"] = json.loads(item["plan"]) if item["plan"] else None
        body = json.dumps({"items": items, "next_cursor": None}, default=str)
        return Response(body, media_type="application/json")

    @app.get("/events")
    async def events() -> StreamingResponse:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        subscribers.queues.add(queue)

        async def stream() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield await queue.get()
            finally:
                subscribers.queues.discard(queue)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app, subscribers


def main() -> None:
    """Serve the bare app on a free loopback port; write the port on standard output."""
    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    sys.stdout.write(f"{listener.getsockname()[1]}\n")
    sys.stdout.flush()
    app, _ = bare_app()
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
