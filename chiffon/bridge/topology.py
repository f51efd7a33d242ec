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
  (which the orchestrators consume to record each refusal in the audit).

Agents declare nothing (their RabbitMQ users may not): ``chiffon agent add`` declares the
agent's queue and binding with the orchestrator's login, so either side can start first.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

ORCHESTRATORS = "orchestrators"
"""The routing key every orchestrator queue is bound to."""


@dataclasses.dataclass(frozen=True, slots=True)
class Topology:
    """Names and arguments of Chiffon's AMQP objects."""

    exchange: str = "chiffon"
    """The topic exchange; every other name starts with it (tests use their own)."""
    orchestrator_queue_expires_ms: int = 24 * 3600 * 1000

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
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(dead)
    return exchange, dead


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
