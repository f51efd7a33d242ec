"""The raw libraries doing the same work as each scenario, measured in the same run."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chiffon.bench.report import percentiles
from chiffon.bench.rss import rss_bytes

if TYPE_CHECKING:
    import ssl

    from aio_pika.abc import AbstractIncomingMessage


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
# confirmed, deliveries acknowledged one by one, as the bridge does. Each is set up once and
# then run in rounds, so the scenario can interleave it with the bridge doing the same work.


def amqp_exchanges(prefix: str) -> list[str]:
    return [f"{prefix}.raw"]


def amqp_queues(prefix: str) -> list[str]:
    return [f"{prefix}.raw.tell", f"{prefix}.raw.requests", f"{prefix}.raw.replies"]


class RawPublishConsume:
    """Persistent messages published with confirms, each sender waiting for its confirm,
    consumed and acknowledged by a consumer on a second connection."""

    def __init__(self, url: str, prefix: str, prefetch: int, ssl_context: ssl.SSLContext | None):
        self.url, self.prefix, self.prefetch, self.ssl_context = url, prefix, prefetch, ssl_context
        self._stack = contextlib.AsyncExitStack()
        self._expected = 0
        self._received = 0
        self._done: asyncio.Future[None] | None = None

    async def __aenter__(self) -> RawPublishConsume:
        import aio_pika

        async with contextlib.AsyncExitStack() as stack:
            publisher = await aio_pika.connect(self.url, ssl_context=self.ssl_context)
            stack.push_async_callback(publisher.close)
            consumer = await aio_pika.connect(self.url, ssl_context=self.ssl_context)
            stack.push_async_callback(consumer.close)
            channel = await publisher.channel(publisher_confirms=True, on_return_raises=True)
            self._exchange = await channel.declare_exchange(
                amqp_exchanges(self.prefix)[0], aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(amqp_queues(self.prefix)[0], durable=True)
            await queue.bind(self._exchange, "raw.tell")
            receiving = await consumer.channel()
            await receiving.set_qos(prefetch_count=self.prefetch)
            await (await receiving.get_queue(queue.name)).consume(self._on_message)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        self._received += 1
        if self._received == self._expected and self._done is not None:
            self._done.set_result(None)

    async def run(
        self, bodies: Sequence[bytes], concurrency: int, samples: list[int]
    ) -> tuple[float, float]:
        """Seconds (wall and this process's CPU) until every one of ``bodies``, published by
        ``concurrency`` senders, has been consumed; each publish's latency (ns) is appended
        to ``samples``."""
        import aio_pika

        self._received, self._expected = 0, len(bodies)
        self._done = asyncio.get_running_loop().create_future()
        per_sender = len(bodies) // concurrency
        clock = time.perf_counter_ns

        async def send(part: Sequence[bytes]) -> None:
            for body in part:
                message = aio_pika.Message(
                    body, content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                )  # fmt: skip
                t0 = clock()
                await self._exchange.publish(message, "raw.tell", mandatory=True)
                samples.append(clock() - t0)

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(
            *(send(bodies[c * per_sender : (c + 1) * per_sender]) for c in range(concurrency))
        )
        await self._done
        return time.perf_counter() - start, time.process_time() - cpu


class RawRpc:
    """Sequential request/reply round trips: a request with reply_to and correlation_id to a
    server on a second connection, which publishes the answer to the reply queue and then
    acknowledges the request."""

    def __init__(
        self,
        url: str,
        prefix: str,
        request: bytes,
        answer: bytes,
        prefetch: int,
        ssl_context: ssl.SSLContext | None,
    ):
        self.url, self.prefix, self.prefetch, self.ssl_context = url, prefix, prefetch, ssl_context
        self.request, self.answer = request, answer
        self._stack = contextlib.AsyncExitStack()
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._sequence = 0

    async def __aenter__(self) -> RawRpc:
        import aio_pika

        async with contextlib.AsyncExitStack() as stack:
            client = await aio_pika.connect(self.url, ssl_context=self.ssl_context)
            stack.push_async_callback(client.close)
            server = await aio_pika.connect(self.url, ssl_context=self.ssl_context)
            stack.push_async_callback(server.close)
            channel = await client.channel(publisher_confirms=True, on_return_raises=True)
            await channel.set_qos(prefetch_count=self.prefetch)
            self._exchange = await channel.declare_exchange(
                amqp_exchanges(self.prefix)[0], aio_pika.ExchangeType.TOPIC, durable=True
            )
            requests_name, replies_name = amqp_queues(self.prefix)[1:]
            requests = await channel.declare_queue(requests_name, durable=True)
            await requests.bind(self._exchange, "raw.requests")
            replies = await channel.declare_queue(replies_name, durable=True)
            await replies.bind(self._exchange, "raw.replies")
            await replies.consume(self._on_reply)
            serving = await server.channel(publisher_confirms=True, on_return_raises=True)
            await serving.set_qos(prefetch_count=self.prefetch)
            self._server_exchange = await serving.get_exchange(self._exchange.name)
            await (await serving.get_queue(requests_name)).consume(self._on_request)
            self._stack = stack.pop_all()
        await self._round_trip()  # warm, as the bridge's ask is
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._waiting.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message.body)
        await message.ack()

    async def _on_request(self, message: AbstractIncomingMessage) -> None:
        import aio_pika

        reply = aio_pika.Message(
            self.answer, content_type="application/json", correlation_id=message.correlation_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )  # fmt: skip
        await self._server_exchange.publish(reply, message.reply_to or "", mandatory=True)
        await message.ack()

    async def _round_trip(self) -> None:
        import aio_pika

        self._sequence += 1
        correlation = str(self._sequence)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        message = aio_pika.Message(
            self.request, content_type="application/json", correlation_id=correlation,
            reply_to="raw.replies", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )  # fmt: skip
        await self._exchange.publish(message, "raw.requests", mandatory=True)
        await future

    async def run(self, count: int, samples: list[int]) -> tuple[float, float]:
        """Seconds (wall and this process's CPU) of ``count`` round trips; each one's latency
        (ns) is appended to ``samples``."""
        clock = time.perf_counter_ns
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            t0 = clock()
            await self._round_trip()
            samples.append(clock() - t0)
        return time.perf_counter() - start, time.process_time() - cpu


__all__ = [
    "RawPublishConsume",
    "RawRpc",
    "amqp_exchanges",
    "amqp_queues",
    "percentiles",
    "queue_handoff",
    "queue_ping_pong",
    "task_per_actor",
]
