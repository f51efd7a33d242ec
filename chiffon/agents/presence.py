"""``Presence``: an agent's announcements, heartbeats and goodbye, as a child actor of the agent.

A child of its own so that heartbeats never wait behind the agent's mailbox (a dry run holds
the agent for seconds). Everything it sends names the *agent* as its sender: the registry
reaches the agent through the sender of its announcement, whoever built the envelope.

- ``on_start``: announce (a first sample must succeed: a resource file that cannot be read
  stops the agent from starting, with the reason);
- every ``interval_s``: a heartbeat with a fresh sample and the running step ids — the
  runtime's periodic timer (``send_every``), never a sleep in a handler; a sample that fails
  is logged and the last good one is sent, because the agent is alive all the same;
- ``Reannounce`` (the agent heard ``AgentsDiscover``): announce again;
- ``on_stop``: goodbye.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable

import structlog

from chiffon.actors import Actor, ActorRef, handler
from chiffon.agents.errors import AgentError
from chiffon.agents.resources import Sampler
from chiffon.protocol import (
    AgentAnnounce,
    AgentGoodbye,
    AgentHeartbeat,
    ResourceSample,
)
from chiffon.protocol.agents import utc_now

log = structlog.get_logger("chiffon.agents")


@dataclasses.dataclass(frozen=True, slots=True)
class Beat:
    """The presence's own timer: time for a heartbeat."""

    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class Reannounce:
    """The agent asks its presence to announce again (it was asked to by a registry)."""

    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """Who the agent is, as it announces itself: its kind and what it declares it can do."""

    name: str
    kind: str
    version: str
    capabilities: tuple[str, ...]


class Presence(Actor):
    """Announces ``agent`` to ``registry`` and keeps it known there. ``running`` gives the
    step ids the agent is running (read at each heartbeat)."""

    def __init__(
        self,
        identity: Identity,
        agent: ActorRef,
        registry: ActorRef,
        sampler: Sampler,
        *,
        interval_s: float,
        running: Callable[[], tuple[uuid.UUID, ...]],
    ) -> None:
        self.identity = identity
        self.agent = agent
        self.registry = registry
        self.sampler = sampler
        self.interval_s = interval_s
        self.running = running
        self.seq = 0
        self.last: ResourceSample | None = None
        self.unheard: str | None = None  # why the last send failed, logged once per outage
        self.started_at = utc_now()

    async def on_start(self) -> None:
        self.last = self.sampler.sample()
        await self.announce()
        self.context.send_every(self.interval_s, Beat())

    @handler
    async def on_reannounce(self, _: Reannounce) -> None:
        await self.announce()

    @handler
    async def on_beat(self, _: Beat) -> None:
        self.seq += 1
        heartbeat = AgentHeartbeat(
            name=self.identity.name, seq=self.seq, resources=self.sample(), running=self.running()
        )
        await self.send(heartbeat)

    async def announce(self) -> None:
        sample = self.sample()
        announce = AgentAnnounce(
            name=self.identity.name,
            agent_kind=self.identity.kind,
            capabilities=self.identity.capabilities,
            version=self.identity.version,
            resources=sample,
            heartbeat_interval_s=self.interval_s,
            started_at=self.started_at,
        )
        await self.send(announce)

    async def send(self, message: AgentAnnounce | AgentHeartbeat) -> None:
        """Tell the registry, as the agent. A registry that is not there (yet, or any more:
        a remote orchestrator restarting) is no failure of the agent's: the next heartbeat
        tries again, and a registry that starts asks for announcements itself."""
        try:
            await self.registry.tell(message, sender=self.agent)
        except Exception as exc:
            if self.unheard is None:
                log.warning("the registry cannot be reached", error=str(exc) or repr(exc))
            self.unheard = str(exc) or repr(exc)
        else:
            if self.unheard is not None:
                log.info("the registry is reached again")
            self.unheard = None

    def sample(self) -> ResourceSample:
        try:
            self.last = self.sampler.sample()
        except AgentError as exc:
            log.warning("resources not measured; the last sample is sent", error=str(exc))
        assert self.last is not None
        return self.last

    async def on_stop(self) -> None:
        goodbye = AgentGoodbye(name=self.identity.name, reason="the agent stopped")
        with contextlib.suppress(Exception):  # stopping: a registry that is gone needs no goodbye
            await self.registry.tell(goodbye, sender=self.agent)
