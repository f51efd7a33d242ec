"""The raw libraries doing the same work as each scenario, measured in the same run."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chiffon.bench.report import percentiles
from chiffon.bench.rss import rss_bytes

if TYPE_CHECKING:
    import ssl


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


# -- raw aio-pika: the amqp scenario's baselines ---------------------------------------------
# Each uses an exchange and queues of its own under the scenario's prefix (``amqp_exchanges``
# and ``amqp_queues`` name them, for the clean-up). Publishes are persistent, mandatory and
# confirmed, deliveries acknowledged one by one, as the bridge does.


def amqp_exchanges(prefix: str) -> list[str]:
    return [f"{prefix}.raw"]


def amqp_queues(prefix: str) -> list[str]:
    return [f"{prefix}.raw.tell", f"{prefix}.raw.requests", f"{prefix}.raw.replies"]


async def amqp_publish_consume(
    url: str,
    prefix: str,
    bodies: Sequence[bytes],
    concurrency: int,
    prefetch: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[float, float, list[int]]:
    """Seconds (wall and this process's CPU) until a consumer on a second connection has
    received and acknowledged every one of ``bodies``, published by ``concurrency`` senders on
    one confirmed channel, each waiting for its confirm; and each publish's latency (ns)."""
    import aio_pika

    publisher = await aio_pika.connect(url, ssl_context=ssl_context)
    consumer = await aio_pika.connect(url, ssl_context=ssl_context)
    try:
        channel = await publisher.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.declare_exchange(
            amqp_exchanges(prefix)[0], aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(amqp_queues(prefix)[0], durable=True)
        await queue.bind(exchange, "raw.tell")
        receiving = await consumer.channel()
        await receiving.set_qos(prefetch_count=prefetch)
        incoming = await receiving.get_queue(queue.name)
        done = asyncio.get_running_loop().create_future()
        expected = len(bodies)
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received == expected and not done.done():
                done.set_result(None)

        await incoming.consume(on_message)
        per_sender = len(bodies) // concurrency
        samples: list[int] = []
        clock = time.perf_counter_ns

        async def send(part: Sequence[bytes]) -> None:
            for body in part:
                message = aio_pika.Message(
                    body, content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                )  # fmt: skip
                t0 = clock()
                await exchange.publish(message, "raw.tell", mandatory=True)
                samples.append(clock() - t0)

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(
            *(send(bodies[c * per_sender : (c + 1) * per_sender]) for c in range(concurrency))
        )
        await done
        return time.perf_counter() - start, time.process_time() - cpu, samples
    finally:
        await consumer.close()
        await publisher.close()


async def amqp_rpc(
    url: str,
    prefix: str,
    request: bytes,
    answer: bytes,
    count: int,
    prefetch: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[float, float, list[int]]:
    """Seconds (wall and this process's CPU) and per-round-trip latencies (ns) of ``count``
    sequential request/reply round trips: ``request`` with reply_to and correlation_id to a
    server on a second connection, which publishes ``answer`` to the reply queue and then
    acknowledges the request."""
    import aio_pika

    client = await aio_pika.connect(url, ssl_context=ssl_context)
    server = await aio_pika.connect(url, ssl_context=ssl_context)
    try:
        channel = await client.channel(publisher_confirms=True, on_return_raises=True)
        await channel.set_qos(prefetch_count=prefetch)
        exchange = await channel.declare_exchange(
            amqp_exchanges(prefix)[0], aio_pika.ExchangeType.TOPIC, durable=True
        )
        requests_name, replies_name = amqp_queues(prefix)[1:]
        requests = await channel.declare_queue(requests_name, durable=True)
        await requests.bind(exchange, "raw.requests")
        replies = await channel.declare_queue(replies_name, durable=True)
        await replies.bind(exchange, "raw.replies")
        waiting: dict[str, asyncio.Future[bytes]] = {}

        async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            future = waiting.pop(message.correlation_id or "", None)
            if future is not None and not future.done():
                future.set_result(message.body)
            await message.ack()

        await replies.consume(on_reply)
        serving = await server.channel(publisher_confirms=True, on_return_raises=True)
        await serving.set_qos(prefetch_count=prefetch)
        server_exchange = await serving.get_exchange(exchange.name)

        async def on_request(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            reply = aio_pika.Message(
                answer, content_type="application/json", correlation_id=message.correlation_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )  # fmt: skip
            await server_exchange.publish(reply, message.reply_to or "", mandatory=True)
            await message.ack()

        await (await serving.get_queue(requests_name)).consume(on_request)
        loop = asyncio.get_running_loop()
        clock = time.perf_counter_ns

        async def round_trip(n: int) -> None:
            future: asyncio.Future[bytes] = loop.create_future()
            correlation = str(n)
            waiting[correlation] = future
            message = aio_pika.Message(
                request, content_type="application/json", correlation_id=correlation,
                reply_to="raw.replies", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )  # fmt: skip
            await exchange.publish(message, "raw.requests", mandatory=True)
            await future

        await round_trip(-1)  # warm, as the bridge's ask is
        samples = [0] * count
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(count):
            t0 = clock()
            await round_trip(i)
            samples[i] = clock() - t0
        return time.perf_counter() - start, time.process_time() - cpu, samples
    finally:
        await server.close()
        await client.close()


__all__ = [
    "amqp_exchanges",
    "amqp_publish_consume",
    "amqp_queues",
    "amqp_rpc",
    "percentiles",
    "queue_handoff",
    "queue_ping_pong",
    "task_per_actor",
]
