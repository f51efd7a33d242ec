"""The raw libraries doing the same work as each scenario, measured in the same run."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Sequence
from typing import Any

from chiffon.bench.report import percentiles
from chiffon.bench.rss import rss_bytes


async def queue_handoff(messages: Sequence[Any], capacity: int) -> float:
    """Seconds for a raw asyncio.Queue to hand ``messages`` to a consumer task that calls a
    trivial handler for each: the least any in-process mailbox can cost."""
    queue: asyncio.Queue[Any] = asyncio.Queue(capacity)
    done = object()
    count = 0

    def handle(_: Any) -> None:
        nonlocal count
        count += 1

    async def consume() -> None:
        while (item := await queue.get()) is not done:
            handle(item)

    consumer = asyncio.create_task(consume())
    start = time.perf_counter()
    for message in messages:
        await queue.put(message)
    await queue.put(done)
    await consumer
    return time.perf_counter() - start


async def queue_ping_pong(message: Any, count: int) -> tuple[float, list[int]]:
    """Seconds and per-round-trip latencies (ns) of ``count`` request/response round trips
    through two raw asyncio.Queues."""
    requests: asyncio.Queue[Any] = asyncio.Queue(1000)
    responses: asyncio.Queue[Any] = asyncio.Queue(1000)
    stop = object()

    async def serve() -> None:
        while (item := await requests.get()) is not stop:
            responses.put_nowait(item)

    server = asyncio.create_task(serve())
    samples = [0] * count
    clock = time.perf_counter_ns
    start = time.perf_counter()
    for i in range(count):
        t0 = clock()
        requests.put_nowait(message)
        await responses.get()
        samples[i] = clock() - t0
    seconds = time.perf_counter() - start
    requests.put_nowait(stop)
    await server
    return seconds, samples


async def task_per_actor(count: int, capacity: int) -> tuple[float, float]:
    """Seconds and bytes per task for ``count`` idle asyncio tasks each with its own
    asyncio.Queue: the hand-rolled 'actor' the runtime replaces."""

    async def idle(queue: asyncio.Queue[Any]) -> None:
        await queue.get()

    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    queues = [asyncio.Queue[Any](capacity) for _ in range(count)]
    tasks = [asyncio.create_task(idle(q)) for q in queues]
    await asyncio.sleep(0)  # let every task reach its first wait, as an idle actor has
    seconds = time.perf_counter() - start
    per = (rss_bytes() - before) / count
    for queue in queues:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    return seconds, per


__all__ = ["percentiles", "queue_handoff", "queue_ping_pong", "task_per_actor"]
