"""Exchanges, queues and routing keys, as one declarative dataclass.

- ``chiffon``: a durable topic exchange every message goes through.
- ``chiffon.agent.<name>``: one durable queue per agent, bound to ``agent.<name>``.
- ``chiffon.orchestrator.<instance>``: one durable queue per orchestrator process, bound to
  ``orchestrator.<instance>`` (answers and results for that process only, so orchestrators
  sharing a broker never take each other's replies) and ``orchestrators`` (what agents say to
  every orchestrator: announcements, heartbeats). It expires a day after its process is gone
  (one named after its process, host-pid, is deleted by it when it closes cleanly).
- ``chiffon.dead-letter``: a fanout exchange for refused messages, bound to
  ``chiffon.dead-letters`` (kept for people to inspect) and ``chiffon.dead-letters.audit``
  (which the orchestrators consume to record each refusal in the audit). Any agent may
  publish there (it dead-letters what it refuses), so both are bounded: the newest
  ``dead_letters_kept`` messages each, older ones dropped (``x-overflow: drop-head``).

Agents declare nothing (their RabbitMQ users may not): ``chiffon agent add`` declares the
agent's queue and binding with the orchestrator's login, so either side can start first.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
    from aiormq.abc import FieldValue

ORCHESTRATORS = "orchestrators"
"""The routing key every orchestrator queue is bound to."""


@dataclasses.dataclass(frozen=True, slots=True)
class Topology:
    """Names and arguments of Chiffon's AMQP objects."""

    exchange: str = "chiffon"
    """The topic exchange; every other name starts with it (tests use their own)."""
    orchestrator_queue_expires_ms: int = 24 * 3600 * 1000
    dead_letters_kept: int = 10_000
    """Messages each dead-letter queue keeps (the oldest are dropped): an agent must not be
    able to grow the broker's storage without bound."""

    @property
    def dead_letter_queue_arguments(self) -> dict[str, FieldValue]:
        return {"x-max-length": self.dead_letters_kept, "x-overflow": "drop-head"}

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.exchange}.dead-letter"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.exchange}.dead-letters"

    @property
    def dead_letter_audit_queue(self) -> str:
        return f"{self.exchange}.dead-letters.audit"

    def agent_queue(self, name: str) -> str:
        return f"{self.exchange}.agent.{name}"

    def orchestrator_queue(self, instance: str) -> str:
        return f"{self.exchange}.orchestrator.{instance}"

    @staticmethod
    def agent_route(name: str) -> str:
        return f"agent.{name}"

    @staticmethod
    def orchestrator_route(instance: str) -> str:
        return f"orchestrator.{instance}"


async def declare_exchanges(
    channel: AbstractChannel, topology: Topology
) -> tuple[AbstractExchange, AbstractExchange]:
    """Declare the topic exchange and the dead-letter exchange with its two queues."""
    from aio_pika import ExchangeType

    exchange = await channel.declare_exchange(topology.exchange, ExchangeType.TOPIC, durable=True)
    dead = await channel.declare_exchange(
        topology.dead_letter_exchange, ExchangeType.FANOUT, durable=True
    )
    for name in (topology.dead_letter_queue, topology.dead_letter_audit_queue):
        await _declare_bounded(channel, name, topology.dead_letter_queue_arguments)
        queue = await channel.get_queue(name, ensure=True)
        await queue.bind(dead)
    return exchange, dead


async def _declare_bounded(
    channel: AbstractChannel, name: str, arguments: Mapping[str, FieldValue]
) -> None:
    """Declare queue ``name`` with ``arguments`` on a channel of its own: a queue an earlier
    Chiffon declared without them makes the broker close the declaring channel, and that
    must neither be ``channel`` nor stop start-up (queue arguments cannot change; the
    queue stays as it is, unbounded, until someone deletes it)."""
    import aiormq.exceptions
    import structlog

    underlay = await channel.get_underlay_channel()
    probe = await underlay.connection.channel()
    try:
        await probe.queue_declare(name, durable=True, arguments=dict(arguments))
    except aiormq.exceptions.ChannelPreconditionFailed:
        structlog.get_logger(__name__).warning(
            "dead-letter queue has no length limit: it was declared by an earlier Chiffon; "
            "delete it to bound it (rabbitmqctl delete_queue NAME)",
            queue=name,
        )
    finally:
        if not probe.is_closed:
            await probe.close()


async def declare_agent_queue(
    channel: AbstractChannel, topology: Topology, name: str
) -> AbstractQueue:
    """Declare agent ``name``'s queue and bind it (with the orchestrator's login)."""
    queue = await channel.declare_queue(topology.agent_queue(name), durable=True)
    await queue.bind(topology.exchange, topology.agent_route(name))
    return queue


async def declare_orchestrator_queue(
    channel: AbstractChannel, topology: Topology, instance: str
) -> AbstractQueue:
    """Declare orchestrator ``instance``'s queue with both of its bindings."""
    queue = await channel.declare_queue(
        topology.orchestrator_queue(instance),
        durable=True,
        arguments={"x-expires": topology.orchestrator_queue_expires_ms},
    )
    await queue.bind(topology.exchange, topology.orchestrator_route(instance))
    await queue.bind(topology.exchange, ORCHESTRATORS)
    return queue
