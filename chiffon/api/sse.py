"""A run's events as server-sent events (``text/event-stream``).

Each event goes out with the run's own event id (``id:``), its kind as the SSE event name and
its JSON as data; a reconnecting client sends ``Last-Event-ID`` and the stream resumes after it
(``RunHandle.events(after=…)`` replays then follows, with no gap and no duplicate). An idle
stream gets a comment every ``heartbeat_s`` so proxies keep it open; when the run's events end
a final ``end`` event says so, and the client stops reconnecting. When the server stops, every
stream ends at once (no ``end``: the run goes on, and the client will reconnect).

The response is its own ASGI callable rather than a generator under ``StreamingResponse``: the
events, the heartbeat, the client going away and the server stopping are four things to wait
for, and a task group inside an async generator would yield across its cancel scope.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, Protocol, TypeVar

import anyio
from fastapi import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chiffon.api.problems import ProblemError

MEDIA_TYPE = "text/event-stream"
HEARTBEAT = b": keep-alive\n\n"
END = b"event: end\ndata: {}\n\n"
_BURST = 64
_ENDED = object()
"""Put after the last event: the stream's events ended."""


class StreamedEvent(Protocol):
    """What a stream sends: ``chiffon.runs.RunEvent`` is one."""

    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...

    def model_dump_json(self) -> str: ...


E = TypeVar("E")


_RECENT = 256
_encoded: collections.OrderedDict[int, tuple[object, bytes]] = collections.OrderedDict()
"""The last events encoded, by object: one event goes to every stream of its run, and is
encoded once. Each entry holds its event, so the ``id()`` it is found by stays its own."""


def encode(event: StreamedEvent) -> bytes:
    """One event in SSE framing; JSON has no raw newlines, so ``data`` is one line."""
    found = _encoded.get(id(event))
    if found is not None and found[0] is event:
        return found[1]
    chunk = f"id: {event.id}\nevent: {event.kind}\ndata: {event.model_dump_json()}\n\n".encode()
    _encoded[id(event)] = (event, chunk)
    if len(_encoded) > _RECENT:
        _encoded.popitem(last=False)
    return chunk


def resume_after(request: Request, after: int | None = None) -> int | None:
    """Where a stream starts: after the ``Last-Event-ID`` a reconnecting browser sends, else
    after ``after`` (a query parameter, for clients that cannot set headers), else from the
    first event. A ``Last-Event-ID`` that is not an event id is a 400."""
    header = request.headers.get("last-event-id")
    if header is None or header == "":
        return after
    if not header.isdigit():
        raise ProblemError(400, "invalid_cursor", f"Last-Event-ID {header!r} is not an event id")
    return int(header)


class EventStreamResponse(Response, Generic[E]):
    """Stream ``events`` until they end, the client leaves or ``stop`` is set; each event is
    framed by ``encode`` (by default a run event as JSON; the dashboard passes its own, which
    sends HTML fragments)."""

    media_type = MEDIA_TYPE

    def __init__(
        self,
        events: AsyncIterator[E],
        *,
        stop: anyio.Event,
        heartbeat_s: float = 15.0,
        headers: dict[str, str] | None = None,
        encode: Callable[[E], bytes] = encode,  # type: ignore[assignment]
    ) -> None:
        super().__init__(status_code=200, media_type=MEDIA_TYPE)
        self.events = events
        self.stop = stop
        self.heartbeat_s = heartbeat_s
        self.extra_headers = headers or {}
        self.encode = encode
        self._cut = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {
            "content-type": MEDIA_TYPE,
            "cache-control": "no-cache",
            "x-accel-buffering": "no",  # nginx would buffer the stream otherwise
            **self.extra_headers,
        }
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._until_gone, receive, tg.cancel_scope)
            tg.start_soon(self._until_stopped, tg.cancel_scope)
            await self._stream(send)
            tg.cancel_scope.cancel()
        # A client that left gets nothing more; a stream that ran to its end, or that the
        # server's stop ended, closes the response properly (a clean end of the chunked body,
        # which an EventSource answers by reconnecting).
        if not self._cut:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _stream(self, send: Send) -> None:
        # asyncio's queue and timeout rather than anyio's stream and scope: they are on the
        # path of every event to every client, and cost a fraction.
        queue: asyncio.Queue[Any] = asyncio.Queue(16)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._pump, queue)
            ended = False
            while not ended:
                if queue.empty():
                    try:
                        async with asyncio.timeout(self.heartbeat_s):
                            first = await queue.get()
                    except TimeoutError:
                        await send({"type": "http.response.body", "body": HEARTBEAT,
                                    "more_body": True})  # fmt: skip
                        continue
                else:
                    first = queue.get_nowait()
                if first is _ENDED:
                    break
                chunks = [self.encode(first)]
                while len(chunks) < _BURST and not queue.empty():  # one write for a burst
                    item = queue.get_nowait()
                    if item is _ENDED:
                        ended = True
                        break
                    chunks.append(self.encode(item))
                body = b"".join(chunks)
                await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": END, "more_body": True})

    async def _pump(self, queue: asyncio.Queue[Any]) -> None:
        try:
            async for event in self.events:
                await queue.put(event)
            await queue.put(_ENDED)
        finally:
            # Cut short, the events' generator would be left suspended: close it now, shielded
            # from the cancellation that got us here.
            close = getattr(self.events, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()

    async def _until_gone(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._cut = True
        scope.cancel()

    async def _until_stopped(self, scope: anyio.CancelScope) -> None:
        await self.stop.wait()
        scope.cancel()
