"""Request limits: a body size cap (ASGI middleware) and per-client rate limits.

The body cap reads a request's body before the app does, at most ``max_bytes`` of it, and
answers 413 beyond that, whether or not the client declared a ``Content-Length``: the app
then reads the buffered body as usual. Rate limits are token buckets kept in memory per
(bucket, client): the figures protect one process, which is what there is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RateLimited(Exception):
    """Raised by ``RateLimiter.take`` when a client has used up its bucket."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many requests: try again in {math.ceil(retry_after_s)} s")
        self.retry_after_s = retry_after_s


class RateLimiter:
    """Token buckets: ``per_minute`` requests a minute with bursts up to the same number."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, bucket: str, client: str, per_minute: int) -> None:
        """Spend one request of ``client`` in ``bucket``. Raises ``RateLimited``."""
        now = self._clock()
        rate = per_minute / 60.0
        tokens, at = self._buckets.get((bucket, client), (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - at) * rate)
        if tokens < 1.0:
            self._buckets[(bucket, client)] = (tokens, now)
            raise RateLimited((1.0 - tokens) / rate)
        self._buckets[(bucket, client)] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:
            self._forget_full(now, rate)

    def _forget_full(self, now: float, rate: float) -> None:
        # A bucket that has refilled is the same as no bucket: drop those.
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * rate >= 60.0 * rate:
                del self._buckets[key]


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 before the app
    sees it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, too_large: ASGIApp) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self.too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self.too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
