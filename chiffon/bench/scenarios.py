"""Chiffon's hot paths, each measured next to its raw-library baseline in the same run.

- ``local``: ``await ref.tell(msg)`` to an actor with a trivial handler, vs a raw
  asyncio.Queue hand-off of the same objects.
- ``ask``: ``await ref.ask(msg)`` round trips, vs a raw asyncio.Queue ping-pong.
- ``persisted``: sync-durability tells through the PostgreSQL journal from ``concurrency``
  senders, vs raw asyncpg ``copy_records_to_table`` of the same rows in the same batch size.
- ``spawn``: spawning idle actors, vs idle asyncio tasks each with an asyncio.Queue.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import anyio
import anyio.lowlevel

from chiffon.actors import Actor, ActorSystem, Durability, handler
from chiffon.bench import baselines
from chiffon.bench.report import Result, percentiles
from chiffon.bench.rss import rss_bytes

# Sample one send in this many for latency: timing every send would cost more than the send.
_SAMPLE_EVERY = 16


class Ping:
    """The message of the in-process scenarios: no fields, nothing to copy."""

    __slots__ = ()
    durability = Durability.TRANSIENT


class Counter(Actor):
    def __init__(self) -> None:
        self.count = 0

    @handler(Ping)
    def ping(self, _: Ping) -> int:
        self.count += 1
        return self.count


async def local(messages: int, concurrency: int, capacity: int) -> Result:
    payload = [Ping() for _ in range(messages)]
    baseline_s = await baselines.queue_handoff(payload, capacity)
    per_sender = messages // concurrency
    samples: list[int] = []
    clock = time.perf_counter_ns
    async with ActorSystem(mailbox_capacity=capacity) as system:
        ref = await system.spawn(Counter)

        async def send(part: list[Ping]) -> None:
            for i, message in enumerate(part):
                if i % _SAMPLE_EVERY:
                    await ref.tell(message)
                else:
                    t0 = clock()
                    await ref.tell(message)
                    samples.append(clock() - t0)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for c in range(concurrency):
                tg.start_soon(send, payload[c * per_sender : (c + 1) * per_sender])
        await ref.ask(Ping())  # every tell before it has been handled
        seconds = time.perf_counter() - start
    sent = per_sender * concurrency
    p50, p99 = percentiles(samples)
    return Result(
        "local", sent, concurrency, seconds, sent / seconds, messages / baseline_s, baseline_s,
        p50, p99, {"latency": "tell call, 1 in 16 sampled"},
    )  # fmt: skip


async def ask(messages: int, concurrency: int) -> Result:
    message = Ping()
    baseline_s, _ = await baselines.queue_ping_pong(message, messages)
    samples = [0] * messages
    clock = time.perf_counter_ns
    async with ActorSystem() as system:
        ref = await system.spawn(Counter)
        await ref.ask(message)
        start = time.perf_counter()
        for i in range(messages):
            t0 = clock()
            await ref.ask(message)
            samples[i] = clock() - t0
        seconds = time.perf_counter() - start
    p50, p99 = percentiles(samples)
    return Result(
        "ask", messages, 1, seconds, messages / seconds, messages / baseline_s, baseline_s,
        p50, p99, {"latency": "round trip, every ask"},
    )  # fmt: skip


class Idle(Actor):
    @handler(Ping)
    def ping(self, _: Ping) -> None:
        pass


async def spawn(actors: int, capacity: int) -> Result:
    baseline_s, baseline_bytes = await baselines.task_per_actor(actors, capacity)
    gc.collect()
    async with ActorSystem(mailbox_capacity=capacity, shutdown_deadline_s=30) as system:
        before = rss_bytes()
        start = time.perf_counter()
        refs = [await system.spawn(Idle) for _ in range(actors)]
        seconds = time.perf_counter() - start
        idle_bytes = (rss_bytes() - before) / actors
        # The same actors once each has handled a message and waits for the next, with a task.
        for ref in refs:
            ref.tell_nowait(Ping())
        await anyio.lowlevel.checkpoint()
        await refs[-1].ask(Ping())
        woken_bytes = (rss_bytes() - before) / actors
    return Result(
        "spawn", actors, 1, seconds, actors / seconds, actors / baseline_s, baseline_s,
        None, None,
        {
            "bytes_per_actor": round(idle_bytes),
            "bytes_per_actor_after_a_message": round(woken_bytes),
            "baseline_bytes_per_task": round(baseline_bytes),
        },
    )  # fmt: skip


async def persisted(
    messages: int, concurrency: int, capacity: int, store: Any, batch_size: int
) -> Result:
    """Sync-durability sends from ``concurrency`` senders through ``store.journal``."""
    from chiffon.bench.persisted import persisted as run

    result: Result = await run(messages, concurrency, capacity, store, batch_size)
    return result


__all__ = ["ask", "local", "persisted", "spawn"]
