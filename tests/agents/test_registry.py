"""The registry with real agents in one process: who is online (and in the agents table), which
agent takes a step (capability, then capacity by the last sample, then the agent's own
answer), why none can, and the runs told when capacity appears or an agent goes away."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from chiffon.actors import ActorRef, ActorSystem, LocalRef, handler
from chiffon.actors.actor import Actor
from chiffon.agents.capacity import capabilities_needed
from chiffon.agents.infra import ansible_agent
from chiffon.agents.registry import Registry
from chiffon.agents.resources import FileSampler
from chiffon.agents.routing import (
    AgentLost,
    CapacityAvailable,
    ListAgents,
    NoCapacity,
    Route,
    Routed,
)
from chiffon.agents.store import AgentStore
from chiffon.agents.tables import agents
from chiffon.catalog import Catalog
from chiffon.protocol import Needs

from .conftest import opened

pytestmark = [pytest.mark.postgres]

GPU = {"index": 0, "name": "Test GPU", "utilisation_percent": 5, "vram_total_mb": 24576}


def resources(path: Path, vram_free_mb: int | None) -> FileSampler:
    gpus = [] if vram_free_mb is None else [{**GPU, "vram_free_mb": vram_free_mb}]
    path.write_text(json.dumps({"gpus": gpus, "gpu_note": None if gpus else "no NVIDIA GPU"}))
    return FileSampler(path)


async def agent(
    system: ActorSystem, catalog: Catalog, tmp_path: Path, registry: ActorRef, name: str,
    vram_free_mb: int | None, interval_s: float = 30.0,
) -> LocalRef:  # fmt: skip
    """Spawned once the registry is: its announcement is in the registry's mailbox when this
    returns, so whatever is asked of the registry next sees it."""
    return await system.spawn(
        lambda: ansible_agent(
            catalog, target_root=tmp_path / name / "target", work_dir=tmp_path / name / "work",
            output_cap=4096, name=name, kind="infra" if vram_free_mb is None else "desktop",
            registry=registry, sampler=resources(tmp_path / f"{name}.json", vram_free_mb),
            heartbeat_interval_s=interval_s,
        ),
        name=name,
    )  # fmt: skip


@dataclasses.dataclass
class Ask:
    route: Route


class RunStandIn(Actor):
    """Asks the registry for routes (so that it is the asker) and records what it is told."""

    def __init__(self, registry: ActorRef) -> None:
        self.registry = registry
        self.told: list[Any] = []
        self._changed = anyio.Event()

    @handler
    async def ask(self, message: Ask) -> Any:
        return await self.registry.ask(message.route)

    @handler(CapacityAvailable)
    def available(self, message: CapacityAvailable) -> None:
        self.record(message)

    @handler(AgentLost)
    def lost(self, message: AgentLost) -> None:
        self.record(message)

    def record(self, message: object) -> None:
        self.told.append(message)
        self._changed.set()
        self._changed = anyio.Event()

    async def until_told(self, count: int) -> None:
        with anyio.fail_after(30):
            while len(self.told) < count:
                await self._changed.wait()


@dataclasses.dataclass
class Cut:
    """Stop forwarding: the link is down."""


class Link(Actor):
    """The network between an agent and the registry: forwards what the agent says (keeping
    its sender) until it is cut."""

    def __init__(self, registry: ActorRef) -> None:
        self.registry = registry
        self.up = True

    @handler
    def cut(self, _: Cut) -> None:
        self.up = False

    @handler(object)
    async def forward(self, message: object) -> None:
        if self.up:
            await self.registry.tell(message, sender=self.context.sender)


def route(**needs: Any) -> Ask:
    wanted = Needs(**needs)
    return Ask(
        Route(
            run_id=uuid.uuid4(), step_id=uuid.uuid4(), attempt=1, needs=wanted,
            capabilities=capabilities_needed("ansible", wanted),
        )
    )  # fmt: skip


async def test_a_step_goes_to_an_agent_with_the_capability_and_the_capacity_or_nowhere_saying_why(
    catalog: Catalog, tmp_path: Path
) -> None:
    async with ActorSystem() as system:
        registry = await system.spawn(Registry, name="registry")
        run = RunStandIn(registry)
        asker = await system.spawn(lambda: run, name="run")
        nobody = await asker.ask(route())
        await agent(system, catalog, tmp_path, registry, "local", None)
        no_gpu = await asker.ask(route(gpu_vram_mb=4096))
        await agent(system, catalog, tmp_path, registry, "desk-1", 4096)
        await agent(system, catalog, tmp_path, registry, "desk-2", 12288)
        gpu = await asker.ask(route(gpu_vram_mb=8192))
        desk_2 = system.lookup("desk-2")
        too_big = await asker.ask(route(gpu_vram_mb=16384))
        plain = await asker.ask(route(memory_mb=64))
        # desk-2 holds 8192 MB for the first GPU step: it refuses a second one, desk-1 is short.
        refused = await asker.ask(route(gpu_vram_mb=4097))
        views = await registry.ask(ListAgents())
    assert nobody == NoCapacity("no agent is online")
    assert no_gpu == NoCapacity("no online agent has the gpu capability (online: local)")
    assert isinstance(gpu, Routed)
    assert gpu.agent == "desk-2"
    assert gpu.offer.accepted
    assert gpu.ref == desk_2
    assert too_big == NoCapacity(
        "no online agent has 16384 MB of free VRAM (best: desk-2 with 12288 MB)"
    )
    assert isinstance(plain, Routed)
    assert refused == NoCapacity(
        "no agent accepted the step: desk-2 lacks 4097 MB of VRAM (4096 MB free)"
    )
    assert [(v.name, v.kind, v.online, v.capabilities) for v in views] == [
        ("desk-1", "desktop", True, ("ansible", "gpu")),
        ("desk-2", "desktop", True, ("ansible", "gpu")),
        ("local", "infra", True, ("ansible",)),
    ]


async def test_a_run_without_capacity_is_told_when_an_agent_that_may_fit_joins(
    catalog: Catalog, tmp_path: Path
) -> None:
    async with ActorSystem() as system:
        registry = await system.spawn(Registry, name="registry")
        run = RunStandIn(registry)
        asker = await system.spawn(lambda: run, name="run")
        await agent(system, catalog, tmp_path, registry, "local", None)
        first = await asker.ask(route(gpu_vram_mb=8192))
        await agent(system, catalog, tmp_path, registry, "desk-1", 16384)
        await run.until_told(1)
        second = await asker.ask(route(gpu_vram_mb=8192))
    assert isinstance(first, NoCapacity)
    assert run.told == [CapacityAvailable("desk-1")]
    assert isinstance(second, Routed)
    assert second.agent == "desk-1"


async def test_agents_are_recorded_online_then_offline_after_missed_heartbeats_or_a_goodbye(
    catalog: Catalog, tmp_path: Path, machine_dsn: str
) -> None:
    async with opened(machine_dsn, tmp_path) as store, ActorSystem() as system:
        registry = await system.spawn(lambda: Registry(store.database), name="registry")
        run = RunStandIn(registry)
        asker = await system.spawn(lambda: run, name="run")
        name = f"desk-{uuid.uuid4().hex[:8]}"
        silent = f"mute-{uuid.uuid4().hex[:8]}"
        link = await system.spawn(Link, registry)
        desk = await agent(system, catalog, tmp_path, registry, name, 8192, interval_s=0.05)
        await agent(system, catalog, tmp_path, link, silent, 16384, interval_s=0.05)
        asked = route(gpu_vram_mb=12000, cpu_cores=0.5)
        routed = await asker.ask(asked)
        online = {r.name: r for r in await AgentStore(store.database).all()}
        await link.tell(Cut())  # the mute agent goes on, but nothing it says arrives
        await run.until_told(1)
        await desk.stop()
        await registry.ask(ListAgents())  # its goodbye, queued before the stop returned, handled
        rows = {
            r["name"]: r
            for r in await store.database.fetch(
                select(agents).where(agents.c.name.in_([name, silent]))
            )
        }
    assert isinstance(routed, Routed)
    assert routed.agent == silent
    [lost] = run.told
    assert isinstance(lost, AgentLost)
    assert lost.agent == silent
    assert lost.step_ids == (asked.route.step_id,)
    assert lost.reason.startswith(f"{silent} missed 2 heartbeats (nothing for ")
    assert lost.reason.endswith("one was due every 0.05 s)")
    assert online[name].status == "online"
    assert online[name].capabilities == ("ansible", "gpu")
    resources = online[name].resources
    assert resources is not None
    assert resources.gpus[0].vram_free_mb == 8192
    assert online[name].address == desk.address
    assert rows[name]["status"] == "offline"
    assert rows[name]["offline_reason"] == f"{name} said goodbye (the agent stopped)"
    assert rows[silent]["status"] == "offline"
    assert rows[silent]["offline_reason"] == lost.reason
