"""``Registry``: the agents an orchestrator knows, and which one takes a step.

An actor named ``registry`` in the orchestrator's process. It does not care whether an agent
is local or remote: the ref to reach one is the sender of its ``AgentAnnounce``.

- ``AgentAnnounce``: the agent is online, with its kind, capabilities and resources. A new
  ``started_at`` means the agent restarted: each attempt routed to it is asked after (the
  answer goes to the run). Runs waiting for capacity are told.
- ``AgentHeartbeat``: its latest sample; back online if it was offline. From an agent it has
  not heard announce itself (the registry restarted), it asks for an announcement. Runs
  waiting for capacity that the sample might fit are told.
- ``AgentGoodbye``, or ``missed`` heartbeat intervals without a word (a timer per agent,
  re-armed by every message from it): offline; runs with attempts out on it are told
  ``AgentLost``.
- ``Route`` (asked by a run): an online agent with the capabilities the step needs and, by its
  last sample, the capacity — then *asked* (``CapacityQuery``), best fit first; the answer is
  ``Routed`` or ``NoCapacity`` with the reason.
- ``QueryStep``, ``CancelStep``, ``Pick``, ``ListAgents``, ``StepSettled``: see
  ``chiffon.agents.routing``.

At start it records agents that went silent as offline (when it stops it leaves the table
as it is: the agents outlive it, and another orchestrator, ``chiffon serve``, may be hearing
them; ``chiffon agents`` shows one nobody has heard for two intervals as stale), and tells
``AgentsDiscover`` to
``discovery`` (a broadcast to remote agents; none locally), so agents that started first
announce themselves. Every change is written to the ``agents`` table when a database is
given; a write that fails is logged and routing goes on, because the table is a record of
what the registry knows, not its source.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable

import structlog

from chiffon.actors import Actor, ActorRef, handler
from chiffon.agents.capacity import best_of, fits, free
from chiffon.agents.routing import (
    AgentLost,
    AgentView,
    CancelStep,
    CapacityAvailable,
    ListAgents,
    NoCapacity,
    Pick,
    Picked,
    QueryStep,
    Route,
    Routed,
    StepSettled,
)
from chiffon.agents.store import AgentStore
from chiffon.database import Database
from chiffon.protocol import (
    AgentAnnounce,
    AgentGoodbye,
    AgentHeartbeat,
    AgentsDiscover,
    CapacityOffer,
    CapacityQuery,
    Needs,
    ResourceSample,
    StepStatusQuery,
)
from chiffon.protocol.agents import utc_now

log = structlog.get_logger("chiffon.registry")

CANCEL_HOLD_S = 24 * 3600.0
"""How long a ``StepCancel`` for an agent the registry has not heard of waits for it."""


@dataclasses.dataclass(frozen=True, slots=True)
class SilenceCheck:
    """The registry's own timer: has ``name`` said anything since heard message ``heard``?"""

    name: str
    heard: int
    durability = "transient"


@dataclasses.dataclass(slots=True)
class _Agent:
    name: str
    kind: str
    capabilities: frozenset[str]
    ref: ActorRef
    interval_s: float
    started_at: dt.datetime
    sample: ResourceSample
    online: bool = True
    heard: int = 0  # messages heard from it: what a silence check compares
    last_heard: float = 0.0  # monotonic

    def can(self, capabilities: frozenset[str]) -> bool:
        return capabilities <= self.capabilities


@dataclasses.dataclass(frozen=True, slots=True)
class _Out:
    """An attempt out on an agent, and the run waiting for it."""

    agent: str
    run: ActorRef
    query: StepStatusQuery


class Registry(Actor):
    """See the module docstring. ``database``: where the ``agents`` table is (``None``: kept
    in memory only). ``missed``: heartbeat intervals without a word before an agent is
    offline. ``ask_timeout_s``: how long an agent has to answer a ``CapacityQuery``."""

    def __init__(
        self,
        database: Database | None = None,
        *,
        discovery: ActorRef | None = None,
        missed: int = 2,
        ask_timeout_s: float = 5.0,
    ) -> None:
        self.store = None if database is None else AgentStore(database)
        self.discovery = discovery
        self.missed = missed
        self.ask_timeout_s = ask_timeout_s
        self.agents: dict[str, _Agent] = {}
        self.out: dict[uuid.UUID, _Out] = {}
        # runs told when capacity may fit: what they wait for
        self.waiting: list[tuple[ActorRef, frozenset[str], Needs]] = []
        self.queries: list[tuple[QueryStep, ActorRef, float]] = []  # for agents not heard yet
        self.cancels: list[tuple[CancelStep, ActorRef, float]] = []  # likewise
        self.sending: set[asyncio.Task[None]] = set()  # tells to agents under way

    async def on_start(self) -> None:
        if self.store is not None:
            await self.record(self.store.offline_if_silent(utc_now(), self.missed))
        if self.discovery is not None:
            with contextlib.suppress(Exception):  # no agent listening yet is no failure
                await self.discovery.tell(AgentsDiscover())

    async def on_stop(self) -> None:
        # Not "offline": an agent's process outlives this orchestrator, and another one
        # (serve, or a concurrent run) may hear it still. Who hears nothing shows it stale.
        for task in list(self.sending):
            task.cancel()

    def tell_agent(self, ref: ActorRef, message: object, *, sender: ActorRef | None) -> None:
        """Tell an agent without waiting here: a remote tell returns once the broker confirmed
        it, and while the broker is away that is when it is back — the registry meanwhile
        answers every run's ``Route`` (which would time out behind it). Tells to one agent
        keep their order (the bridge publishes a route's messages in the order sent)."""
        task = asyncio.get_running_loop().create_task(_tell(ref, message, sender=sender))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    # -- presence ---------------------------------------------------------------------------

    @handler
    async def on_announce(self, message: AgentAnnounce) -> None:
        sender = self.context.sender
        if sender is None:
            log.warning("announcement without a sender ignored", agent=message.name)
            return
        known = self.agents.get(message.name)
        restarted = known is not None and known.started_at != message.started_at
        agent = _Agent(
            name=message.name, kind=message.agent_kind,
            capabilities=frozenset(message.capabilities), ref=sender,
            interval_s=message.heartbeat_interval_s, started_at=message.started_at,
            sample=message.resources,
        )  # fmt: skip
        self.agents[message.name] = agent
        self.heard(agent)
        log.info("agent online", agent=message.name, kind=message.agent_kind, restarted=restarted)
        if self.store is not None:
            await self.record(self.store.announced(message, sender.address, utc_now()))
        if restarted:
            for out in list(self.out.values()):
                if out.agent == message.name:
                    self.tell_agent(agent.ref, out.query, sender=out.run)
        self.pass_cancels(agent)
        self.pass_queries(agent)
        await self.tell_waiting(agent, joined=True)

    @handler
    async def on_heartbeat(self, message: AgentHeartbeat) -> None:
        agent = self.agents.get(message.name)
        if agent is None:
            sender = self.context.sender
            if sender is not None:  # it started before this registry: ask who it is
                with contextlib.suppress(Exception):
                    await sender.tell(AgentsDiscover())
            return
        back = not agent.online
        agent.online = True
        agent.sample = message.resources
        self.heard(agent)
        if self.store is not None:
            await self.record(self.store.heartbeat(agent.name, message.resources, utc_now()))
        if back:
            log.info("agent back online", agent=agent.name)
        await self.tell_waiting(agent, joined=back)

    @handler
    async def on_goodbye(self, message: AgentGoodbye) -> None:
        agent = self.agents.get(message.name)
        if agent is not None and agent.online:
            await self.offline(agent, f"{agent.name} said goodbye ({message.reason})")

    @handler
    async def on_silence(self, message: SilenceCheck) -> None:
        agent = self.agents.get(message.name)
        if agent is None or not agent.online or agent.heard != message.heard:
            return
        silent = time.monotonic() - agent.last_heard
        await self.offline(
            agent,
            f"{agent.name} missed {self.missed} heartbeats (nothing for {silent:.1f} s; "
            f"one was due every {agent.interval_s:g} s)",
        )

    def heard(self, agent: _Agent) -> None:
        """Something from ``agent``: re-arm its silence timer."""
        agent.heard += 1
        agent.last_heard = time.monotonic()
        self.context.send_after(
            self.missed * agent.interval_s, SilenceCheck(agent.name, agent.heard),
            key=("silence", agent.name),
        )  # fmt: skip

    async def offline(self, agent: _Agent, reason: str) -> None:
        agent.online = False
        self.context.cancel_timer(("silence", agent.name))
        log.warning("agent offline", agent=agent.name, reason=reason)
        if self.store is not None:
            await self.record(self.store.offline(agent.name, reason, utc_now()))
        lost: dict[ActorRef, list[uuid.UUID]] = defaultdict(list)
        for step_id, out in list(self.out.items()):
            if out.agent == agent.name:
                lost[out.run].append(step_id)
                del self.out[step_id]
        for run, step_ids in lost.items():
            await _tell(run, AgentLost(agent.name, reason, tuple(step_ids)))

    # -- routing ----------------------------------------------------------------------------

    @handler
    async def route(self, message: Route) -> Routed | NoCapacity:
        """An agent that accepted the step, or why there is none; see the module docstring."""
        answer = await self.choose(message)
        sender = self.context.sender
        if isinstance(answer, Routed) and sender is not None:
            query = StepStatusQuery(
                run_id=message.run_id, step_id=message.step_id, attempt=message.attempt
            )
            self.out[message.step_id] = _Out(answer.agent, sender, query)
        elif isinstance(answer, NoCapacity) and message.watch and sender is not None:
            self.waiting.append((sender, message.capabilities, message.needs))
        return answer

    async def choose(self, message: Route) -> Routed | NoCapacity:
        needs = message.needs
        online = sorted((a for a in self.agents.values() if a.online), key=lambda a: a.name)
        if not online:
            return NoCapacity("no agent is online")
        capable = [a for a in online if a.can(message.capabilities)]
        if not capable:
            return NoCapacity(_incapable(message.capabilities, online))
        candidates = [a for a in capable if fits(needs, free(a.sample))]
        if not candidates:
            short = best_of(needs, [(a.name, free(a.sample)) for a in capable])
            return NoCapacity("no online agent has " + "; nor ".join(short))
        candidates.sort(key=lambda a: _room(needs, free(a.sample)), reverse=True)
        refusals = []
        query = CapacityQuery(run_id=message.run_id, step_id=message.step_id, needs=needs)
        for agent in candidates:
            try:
                offer: CapacityOffer = await agent.ref.ask(query, timeout=self.ask_timeout_s)
            except Exception as exc:  # an agent that cannot answer cannot take the step
                refusals.append(f"{agent.name} did not answer ({exc or type(exc).__name__})")
                continue
            agent.sample = offer.resources
            if offer.accepted:
                return Routed(agent.name, agent.ref, offer)
            refusals.append(offer.reason or f"{agent.name} refused")
        return NoCapacity("no agent accepted the step: " + "; ".join(refusals))

    @handler
    async def pick(self, message: Pick) -> Picked | NoCapacity:
        """An online agent able to take the step (fitting by its last sample if one does),
        not asked: for a dry run."""
        online = sorted((a for a in self.agents.values() if a.online), key=lambda a: a.name)
        if not online:
            return NoCapacity("no agent is online")
        capable = [a for a in online if a.can(message.capabilities)]
        if not capable:
            return NoCapacity(_incapable(message.capabilities, online))
        fitting = [a for a in capable if fits(message.needs, free(a.sample))]
        chosen = (fitting or capable)[0]
        return Picked(chosen.name, chosen.ref)

    @handler
    def settled(self, message: StepSettled) -> None:
        self.out.pop(message.step_id, None)

    @handler
    async def query_step(self, message: QueryStep) -> None:
        """Pass a run's status question on to the agent (now, or once it announces)."""
        run = self.context.sender
        if run is None:
            return
        self.out[message.query.step_id] = _Out(message.agent, run, message.query)
        agent = self.agents.get(message.agent)
        if agent is not None and agent.online:
            self.tell_agent(agent.ref, message.query, sender=run)
        else:
            self.queries.append((message, run, time.monotonic() + message.wait_s))

    @handler
    async def cancel_step(self, message: CancelStep) -> None:
        """Pass a run's ``StepCancel`` on to the agent: told now to an agent it knows, even
        offline (a remote agent's queue keeps it for its return, ahead of anything routed to
        it later); held for an agent not heard of yet (this registry started after it) until
        it announces itself, for up to ``CANCEL_HOLD_S``."""
        run = self.context.sender
        if run is None:
            return
        agent = self.agents.get(message.agent)
        if agent is not None:
            self.tell_agent(agent.ref, message.cancel, sender=run)
        else:
            self.cancels.append((message, run, time.monotonic() + CANCEL_HOLD_S))

    def pass_cancels(self, agent: _Agent) -> None:
        now = time.monotonic()
        keep = []
        for cancel, run, until in self.cancels:
            if until < now:
                continue
            if cancel.agent == agent.name:
                self.tell_agent(agent.ref, cancel.cancel, sender=run)
            else:
                keep.append((cancel, run, until))
        self.cancels = keep

    def pass_queries(self, agent: _Agent) -> None:
        now = time.monotonic()
        keep = []
        for query, run, until in self.queries:
            if until < now:
                continue  # the run gave up on it by now
            if query.agent == agent.name:
                self.tell_agent(agent.ref, query.query, sender=run)
            else:
                keep.append((query, run, until))
        self.queries = keep

    async def tell_waiting(self, agent: _Agent, *, joined: bool) -> None:
        """Tell the runs waiting for capacity that ``agent`` might have it (each once)."""
        still = []
        for run, capabilities, needs in self.waiting:
            if (
                agent.online
                and agent.can(capabilities)
                and (joined or fits(needs, free(agent.sample)))
            ):
                await _tell(run, CapacityAvailable(agent.name))
            else:
                still.append((run, capabilities, needs))
        self.waiting = still

    @handler
    def list_agents(self, _: ListAgents) -> tuple[AgentView, ...]:
        return tuple(
            AgentView(
                name=a.name, kind=a.kind, online=a.online,
                capabilities=tuple(sorted(a.capabilities)), resources=a.sample,
                address=a.ref.address,
            )
            for a in sorted(self.agents.values(), key=lambda a: a.name)
        )  # fmt: skip

    async def record(self, write: Awaitable[object]) -> None:
        """Await a write to the ``agents`` table; a failure is logged, not raised (see the
        module docstring)."""
        try:
            await write
        except Exception as exc:
            log.warning("agents table not updated", error=str(exc) or repr(exc))


def _incapable(wanted: frozenset[str], online: list[_Agent]) -> str:
    """Why no online agent declares every capability in ``wanted``: the ones nobody has, or
    (each declared by someone) that nobody has them all."""
    names = ", ".join(a.name for a in online)
    missing = sorted(wanted - frozenset().union(*(a.capabilities for a in online)))
    if missing:
        noun = "capability" if len(missing) == 1 else "capabilities"
        return f"no online agent has the {' and '.join(missing)} {noun} (online: {names})"
    together = " and ".join(sorted(wanted))
    return f"no online agent has the {together} capabilities together (online: {names})"


def _room(needs: Needs, available: Needs) -> tuple[float, ...]:
    """How much room is left once the step is in: the scarcest resource it needs first."""
    return (
        available.gpu_vram_mb - needs.gpu_vram_mb if needs.gpu_vram_mb else 0,
        available.memory_mb - needs.memory_mb,
        available.cpu_cores - needs.cpu_cores,
    )


async def _tell(ref: ActorRef, message: object, *, sender: ActorRef | None = None) -> None:
    """Tell, where a recipient that has gone (a run that ended, an agent that left) is no
    failure of the registry's."""
    try:
        await ref.tell(message, sender=sender)
    except Exception as exc:
        log.info("not delivered", kind=type(message).__name__, to=ref.address, error=str(exc))
