"""The ``amqp`` scenario: remote tells and asks through two real bridges on one broker.

One process holds both sides, as two processes would: an orchestrator-side and an agent-side
actor system, each with its own ``Bridge`` (its own connection), on a topology of the
benchmark's own (a unique exchange prefix), deleted afterwards.

- ``amqp-tell``: ``concurrency`` senders on the agent side each ``await remote.tell(output)``
  of ``StepOutput`` messages to a sink actor on the orchestrator side. Counted when the sink
  has handled every one: each was signed, published persistent, mandatory and confirmed,
  checked and decoded by the consumer, delivered, recorded in the inbox and acknowledged.
  Latency is one tell call: from the call until the broker's confirm.
- ``amqp-ask``: sequential ``await remote.ask(query)`` of ``CapacityQuery`` from the
  orchestrator side, answered with a ``CapacityOffer`` by an actor on the agent side.

Both inboxes are ``MemoryInbox``: the benchmark measures the bridge, not a database. The
baselines (``baselines.amqp_publish_consume`` and ``baselines.amqp_rpc``) move the very same
bytes with raw aio-pika under the same rules (persistent, mandatory, confirmed, acknowledged,
same prefetch), on queues of their own under the same prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import socket
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chiffon.actors import Actor, ActorSystem, handler
from chiffon.bench import baselines
from chiffon.bench.report import Result, percentiles
from chiffon.bridge.bridge import Bridge
from chiffon.bridge.credentials import Keyring, create, save
from chiffon.bridge.errors import BrokerUnavailable
from chiffon.bridge.inbox import MemoryInbox
from chiffon.bridge.topology import Topology, declare_agent_queue, declare_exchanges
from chiffon.bridge.trust import AgentTrust, OrchestratorTrust
from chiffon.protocol import StepOutput
from chiffon.protocol.agents import CapacityOffer, CapacityQuery, Needs, ResourceSample
from chiffon.protocol.wire import WireEnvelope, encode_packet

if TYPE_CHECKING:
    import ssl

AGENT = "bench"
SINK = "sink"
CAPACITY = "capacity"


class Sink(Actor):
    """Counts step output lines; sets ``done`` at the ``expected``-th."""

    def __init__(self) -> None:
        self.count = 0
        self.expected = 0
        self.done = asyncio.Event()

    def expect(self, count: int) -> None:
        self.count = 0
        self.expected = count
        self.done = asyncio.Event()

    @handler
    def output(self, _: StepOutput) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set()


class Capacity(Actor):
    """Answers every capacity query with the same offer, as a desktop agent with room would."""

    def __init__(self, offer: CapacityOffer) -> None:
        self.offer = offer

    @handler
    def query(self, _: CapacityQuery) -> CapacityOffer:
        return self.offer


def outputs(count: int) -> list[StepOutput]:
    """``count`` Ansible event lines of one step, as an agent streams them."""
    run_id, step_id = uuid.uuid4(), uuid.uuid4()
    return [
        StepOutput(
            run_id=run_id,
            step_id=step_id,
            seq=i,
            event="runner_on_ok",
            host="nas-1",
            task="Start the uptime-kuma container",
            status="changed",
            text=f"changed: [nas-1] => (item=uptime-kuma) line {i}",
        )
        for i in range(count)
    ]


def capacity_query() -> CapacityQuery:
    return CapacityQuery(
        run_id=uuid.uuid4(), step_id=uuid.uuid4(), needs=Needs(cpu_cores=2, gpu_vram_mb=4096)
    )


def capacity_offer() -> CapacityOffer:
    sample = ResourceSample(
        cpu_count=16, cpu_percent=12.5, load_1m=0.7, memory_total_mb=65536,
        memory_available_mb=40960, sampled_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    return CapacityOffer(
        name=AGENT, accepted=True, available=Needs(cpu_cores=14, gpu_vram_mb=0), resources=sample
    )


def packet(body: StepOutput | CapacityQuery | CapacityOffer, sender: str, to: str) -> bytes:
    """The bytes the bridge would publish for ``body`` alone: what the baselines carry."""
    wire = WireEnvelope(
        id=uuid.uuid4(), kind=body.kind, body=body, sender=sender,
        sent_at=time.time_ns() // 1_000_000, to=to, reply_to="orchestrator.bench",
    )  # fmt: skip
    return encode_packet([wire])


def broker_reachable(url: str, timeout_s: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``url``'s host and port."""
    parts = urllib.parse.urlsplit(url)
    default = 5671 if parts.scheme == "amqps" else 5672
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default), timeout_s)
    except OSError:
        return False
    return True


@dataclass
class _Sides:
    orchestrator: Bridge
    agent: Bridge
    sink: Sink
    route: str
    """The orchestrator's routing key: where the agent's tells go."""


@contextlib.asynccontextmanager
async def _bridged(
    url: str,
    topology: Topology,
    prefetch: int,
    max_batch: int,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[_Sides]:
    """The two sides, each connected, its actor spawned, then consuming (as ``chiffon serve``
    and ``chiffon agent`` start)."""
    user = urllib.parse.unquote(urllib.parse.urlsplit(url).username or "guest")
    credentials = create(AGENT, amqp_user=user, orchestrator_users=(user,))
    instance = f"bench-{secrets.token_hex(3)}"
    sink = Sink()
    async with contextlib.AsyncExitStack() as stack:
        keys = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chiffon-bench-")))
        save(credentials, keys)
        trust = OrchestratorTrust(instance, Keyring(keys), topology)
        orchestrator = await stack.enter_async_context(
            ActorSystem(name="bench-orchestrator", mailbox_capacity=prefetch)
        )
        agent = await stack.enter_async_context(
            ActorSystem(name="bench-agent", mailbox_capacity=prefetch)
        )
        sides = _Sides(
            Bridge(
                url, orchestrator, trust, MemoryInbox(), orchestrator=True, topology=topology,
                prefetch=prefetch, max_batch=max_batch, ssl_context=ssl_context,
            ),
            Bridge(
                url, agent, AgentTrust(credentials, topology), MemoryInbox(), orchestrator=False,
                topology=topology, prefetch=prefetch, max_batch=max_batch,
                ssl_context=ssl_context,
            ),
            sink,
            trust.route,
        )  # fmt: skip
        for bridge in (sides.orchestrator, sides.agent):
            await bridge.connect()
            stack.push_async_callback(bridge.aclose)
        await orchestrator.spawn(lambda: sink, name=SINK)
        await agent.spawn(Capacity, capacity_offer(), name=CAPACITY)
        for bridge in (sides.orchestrator, sides.agent):
            await bridge.start_consuming()
        yield sides


async def _declare(url: str, topology: Topology, ssl_context: ssl.SSLContext | None) -> None:
    import aio_pika

    try:
        connection = await aio_pika.connect(url, ssl_context=ssl_context)
    except Exception as exc:
        raise BrokerUnavailable(_without_password(url), exc) from None
    async with connection:
        channel = await connection.channel()
        await declare_exchanges(channel, topology)
        await declare_agent_queue(channel, topology, AGENT)


async def _delete(url: str, topology: Topology, ssl_context: ssl.SSLContext | None) -> None:
    """Remove every queue and exchange under the benchmark's prefix."""
    import aio_pika

    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(url, ssl_context=ssl_context)
        async with connection:
            channel = await connection.channel()
            queues = [
                topology.agent_queue(AGENT), topology.dead_letter_queue,
                topology.dead_letter_audit_queue, *baselines.amqp_queues(topology.exchange),
            ]  # fmt: skip
            for queue in queues:
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)
            exchanges = [topology.exchange, topology.dead_letter_exchange]
            for exchange in [*exchanges, *baselines.amqp_exchanges(topology.exchange)]:
                with contextlib.suppress(Exception):
                    await channel.exchange_delete(exchange)


async def _tell(sides: _Sides, messages: list[StepOutput], concurrency: int) -> Result:
    remote = sides.agent.ref(sides.route, SINK)
    await remote.tell(messages[0])  # connection warm: the first publish opens the route
    sides.sink.expect(len(messages))
    received = sides.orchestrator.statistics.received
    delivered = sides.orchestrator.statistics.delivered
    per_sender = len(messages) // concurrency
    samples: list[int] = []
    clock = time.perf_counter_ns

    async def send(part: list[StepOutput]) -> None:
        for message in part:
            t0 = clock()
            await remote.tell(message)
            samples.append(clock() - t0)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(
        *(send(messages[c * per_sender : (c + 1) * per_sender]) for c in range(concurrency))
    )
    await sides.sink.done.wait()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    amqp_messages = sides.orchestrator.statistics.received - received
    envelopes = sides.orchestrator.statistics.delivered - delivered
    p50, p99 = percentiles(samples)
    return Result(
        "amqp-tell", len(messages), concurrency, seconds, len(messages) / seconds, 0.0, 0.0,
        p50, p99,
        {
            "latency": "tell call, until the broker's confirm",
            "cpu_us_per_op": round(cpu / len(messages) * 1e6, 1),
            "envelopes_per_amqp_message": round(envelopes / max(1, amqp_messages), 2),
        },
    )  # fmt: skip


async def _ask(sides: _Sides, count: int) -> Result:
    remote = sides.orchestrator.ref(Topology.agent_route(AGENT), CAPACITY)
    query = capacity_query()
    await remote.ask(query, timeout=30)  # warm: both routes open
    samples = [0] * count
    clock = time.perf_counter_ns
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        t0 = clock()
        await remote.ask(query, timeout=30)
        samples[i] = clock() - t0
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    p50, p99 = percentiles(samples)
    return Result(
        "amqp-ask", count, 1, seconds, count / seconds, 0.0, 0.0, p50, p99,
        {"latency": "round trip, every ask", "cpu_us_per_op": round(cpu / count * 1e6, 1)},
    )  # fmt: skip


def _with_baseline(
    result: Result, seconds: float, cpu: float, samples: list[int], **extra: object
) -> Result:
    import dataclasses

    b50, b99 = percentiles(samples)
    figures = dict(result.extra)
    figures.update(
        {
            "baseline_cpu_us_per_op": round(cpu / result.messages * 1e6, 1),
            "baseline_p50_us": None if b50 is None else round(b50, 1),
            "baseline_p99_us": None if b99 is None else round(b99, 1),
            **extra,
        }
    )
    return dataclasses.replace(
        result, baseline=result.messages / seconds, baseline_seconds=seconds, extra=figures
    )


async def amqp(
    url: str,
    messages: int,
    asks: int,
    concurrency: int,
    prefetch: int,
    *,
    max_batch: int = 256,
    ssl_context: ssl.SSLContext | None = None,
    prefix: str | None = None,
) -> tuple[Result, Result]:
    """Measure remote tells and asks and their raw aio-pika baselines against ``url``:
    ``messages`` tells from ``concurrency`` senders (rounded down to a multiple of it), and
    ``asks`` sequential round trips. ``prefetch`` is the consumers' (the mailbox capacity).
    Every exchange and queue is named under ``prefix`` (by default a fresh
    ``chiffon-bench-<hex>``) and deleted afterwards.

    Raises ``BrokerUnavailable`` when the broker cannot be reached or refuses the login.
    """
    concurrency = max(1, min(concurrency, messages))
    messages = messages // concurrency * concurrency
    topology = Topology(exchange=prefix or f"chiffon-bench-{secrets.token_hex(4)}")
    lines = outputs(messages)
    bodies = [packet(line, f"agent:{AGENT}", SINK) for line in lines]
    query, offer = capacity_query(), capacity_offer()
    request = packet(query, "orchestrator:bench", CAPACITY)
    answer = packet(offer, f"agent:{AGENT}", "asker")
    await _declare(url, topology, ssl_context)
    try:
        tell_s, tell_cpu, tell_samples = await baselines.amqp_publish_consume(
            url, topology.exchange, bodies, concurrency, prefetch, ssl_context=ssl_context
        )
        async with _bridged(url, topology, prefetch, max_batch, ssl_context) as sides:
            tell = await _tell(sides, lines, concurrency)
            ask = await _ask(sides, asks)
        ask_s, ask_cpu, ask_samples = await baselines.amqp_rpc(
            url, topology.exchange, request, answer, asks, prefetch, ssl_context=ssl_context
        )
    finally:
        await _delete(url, topology, ssl_context)
    tell = _with_baseline(
        tell, tell_s, tell_cpu, tell_samples,
        prefetch=prefetch, max_batch=max_batch, inbox="memory",
        bytes_per_envelope=len(bodies[0]) - 2,
    )  # fmt: skip
    ask = _with_baseline(ask, ask_s, ask_cpu, ask_samples, inbox="memory")
    return tell, ask


def _without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
