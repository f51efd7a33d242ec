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
baselines (``baselines.RawPublishConsume`` and ``baselines.RawRpc``) move the very same
bytes with raw aio-pika under the same rules (persistent, mandatory, confirmed, acknowledged,
same prefetch), on queues of their own under the same prefix. Ours and the baseline take
turns in rounds, so load from elsewhere on the machine falls on both.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chiffon.actors import Actor, ActorSystem, handler
from chiffon.bench import baselines
from chiffon.bench.report import Result, percentiles
from chiffon.bridge.bridge import Bridge, without_password
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
INSTANCE = "bench"
"""The orchestrator side's instance name: its queue is ``<prefix>.orchestrator.bench``."""
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
    instance = INSTANCE  # the prefix is the run's own: so is this orchestrator queue
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
        raise BrokerUnavailable(without_password(url), exc) from None
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
                topology.agent_queue(AGENT), topology.orchestrator_queue(INSTANCE),
                topology.dead_letter_queue, topology.dead_letter_audit_queue,
                *baselines.amqp_queues(topology.exchange),
            ]  # fmt: skip
            for queue in queues:
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)
            exchanges = [topology.exchange, topology.dead_letter_exchange]
            for exchange in [*exchanges, *baselines.amqp_exchanges(topology.exchange)]:
                with contextlib.suppress(Exception):
                    await channel.exchange_delete(exchange)


@dataclass
class _Tally:
    """Seconds, CPU seconds and latencies of one side, summed over the rounds."""

    seconds: float = 0.0
    cpu: float = 0.0
    samples: list[int] = field(default_factory=list)

    def add(self, seconds: float, cpu: float) -> None:
        self.seconds += seconds
        self.cpu += cpu


async def _tell(
    sides: _Sides, messages: list[StepOutput], concurrency: int, samples: list[int]
) -> tuple[float, float]:
    """``messages`` from ``concurrency`` senders through ``RemoteRef.tell``: seconds (wall and
    CPU) until the sink has handled every one."""
    remote = sides.agent.ref(sides.route, SINK)
    sides.sink.expect(len(messages))
    per_sender = len(messages) // concurrency
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
    return time.perf_counter() - start, time.process_time() - cpu


async def _ask(
    sides: _Sides, query: CapacityQuery, count: int, samples: list[int]
) -> tuple[float, float]:
    """``count`` sequential ``RemoteRef.ask`` round trips: seconds (wall and CPU)."""
    remote = sides.orchestrator.ref(Topology.agent_route(AGENT), CAPACITY)
    clock = time.perf_counter_ns
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        t0 = clock()
        await remote.ask(query, timeout=30)
        samples.append(clock() - t0)
    return time.perf_counter() - start, time.process_time() - cpu


def _result(
    scenario: str, count: int, concurrency: int, ours: _Tally, raw: _Tally, **extra: object
) -> Result:
    p50, p99 = percentiles(ours.samples)
    b50, b99 = percentiles(raw.samples)
    figures = {
        "cpu_us_per_op": round(ours.cpu / count * 1e6, 1),
        "baseline_cpu_us_per_op": round(raw.cpu / count * 1e6, 1),
        "baseline_p50_us": None if b50 is None else round(b50, 1),
        "baseline_p99_us": None if b99 is None else round(b99, 1),
        **extra,
    }
    return Result(
        scenario, count, concurrency, ours.seconds, count / ours.seconds, count / raw.seconds,
        raw.seconds, p50, p99, figures,
    )  # fmt: skip


def _chunks(items: list[Any], rounds: int, multiple: int) -> list[list[Any]]:
    size = max(multiple, len(items) // rounds // multiple * multiple)
    return [items[i : i + size] for i in range(0, len(items), size)]


async def amqp(
    url: str,
    messages: int,
    asks: int,
    concurrency: int,
    prefetch: int,
    *,
    max_batch: int = 256,
    rounds: int = 4,
    ssl_context: ssl.SSLContext | None = None,
    prefix: str | None = None,
) -> tuple[Result, Result]:
    """Measure remote tells and asks and their raw aio-pika baselines against ``url``:
    ``messages`` tells from ``concurrency`` senders (rounded down to a multiple of it), and
    ``asks`` sequential round trips. ``prefetch`` is the consumers' (the mailbox capacity).

    Ours and the baseline are set up side by side and take turns, in ``rounds`` rounds of
    each workload (who goes first alternating), so a machine busy with something else
    slows both alike. Every exchange and queue is named under ``prefix`` (by default a fresh
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
    tells, raw_tells, round_trips, raw_round_trips = _Tally(), _Tally(), _Tally(), _Tally()
    await _declare(url, topology, ssl_context)
    try:
        async with (
            _bridged(url, topology, prefetch, max_batch, ssl_context) as sides,
            baselines.RawPublishConsume(url, topology.exchange, prefetch, ssl_context) as raw,
            baselines.RawRpc(url, topology.exchange, request, answer, prefetch, ssl_context) as rpc,
        ):  # fmt: skip
            # Warm: the first publish on each route, the first ask through both bridges.
            await _tell(sides, lines[:1], 1, [])
            await sides.orchestrator.ref(Topology.agent_route(AGENT), CAPACITY).ask(query)
            received = sides.orchestrator.statistics.received
            delivered = sides.orchestrator.statistics.delivered
            for turn, (chunk, part) in enumerate(
                zip(
                    _chunks(lines, rounds, concurrency),
                    _chunks(bodies, rounds, concurrency),
                    strict=True,
                )
            ):
                for ours_turn in (turn % 2 == 0, turn % 2 == 1):
                    if ours_turn:
                        tells.add(*await _tell(sides, chunk, concurrency, tells.samples))
                    else:
                        raw_tells.add(*await raw.run(part, concurrency, raw_tells.samples))
            amqp_messages = sides.orchestrator.statistics.received - received
            envelopes = sides.orchestrator.statistics.delivered - delivered
            for turn, chunk in enumerate(_chunks(list(range(asks)), rounds, 1)):
                for ours_turn in (turn % 2 == 0, turn % 2 == 1):
                    if ours_turn:
                        round_trips.add(*await _ask(sides, query, len(chunk), round_trips.samples))
                    else:
                        raw_round_trips.add(*await rpc.run(len(chunk), raw_round_trips.samples))
    finally:
        await _delete(url, topology, ssl_context)
    tell = _result(
        "amqp-tell", messages, concurrency, tells, raw_tells,
        latency="tell call, until the broker's confirm",
        envelopes_per_amqp_message=round(envelopes / max(1, amqp_messages), 2),
        prefetch=prefetch, max_batch=max_batch, inbox="memory", rounds=rounds,
        bytes_per_envelope=len(bodies[0]) - 2,
    )  # fmt: skip
    ask = _result(
        "amqp-ask", asks, 1, round_trips, raw_round_trips,
        latency="round trip, every ask", inbox="memory", rounds=rounds,
    )  # fmt: skip
    return tell, ask
