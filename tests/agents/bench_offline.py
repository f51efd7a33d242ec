"""How long the registry takes to call a silent agent offline, and what a capacity question
costs: ``uv run python tests/agents/bench_offline.py [ROUNDS]``. A measurement, not a test.

For each heartbeat interval, an agent reaches the registry through a link that the script
cuts right after a heartbeat went through; the registry tells the run that had a step routed
to the agent (``AgentLost``). Printed per interval: the time from the last heartbeat heard to
``AgentLost`` (the design says two intervals), and from the cut. Then the cost of one
resource sample and of ``CapacityQuery`` / ``Route`` round trips in one process.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio

from chiffon.actors import ActorRef, ActorSystem, handler
from chiffon.actors.actor import Actor
from chiffon.agents.infra import ansible_agent
from chiffon.agents.registry import Registry
from chiffon.agents.resources import FileSampler, SystemSampler, measure
from chiffon.agents.routing import AgentLost, Route
from chiffon.catalog import load_catalog
from chiffon.protocol import AgentHeartbeat, CapacityQuery, Needs

CATALOG = Path(__file__).parent / "catalog"


class Link(Actor):
    """Forwards the agent's words to the registry, noting when the last heartbeat passed."""

    def __init__(self, registry: ActorRef) -> None:
        self.registry = registry
        self.up = True
        self.last_beat = 0.0
        self.beat = anyio.Event()

    @handler(object)
    async def forward(self, message: object) -> None:
        if not self.up:
            return
        await self.registry.tell(message, sender=self.context.sender)
        if isinstance(message, AgentHeartbeat):
            self.last_beat = time.monotonic()
            self.beat.set()
            self.beat = anyio.Event()


class Run(Actor):
    def __init__(self, registry: ActorRef) -> None:
        self.registry = registry
        self.lost_at = 0.0
        self.lost = anyio.Event()

    @handler
    async def route(self, message: Route) -> Any:
        return await self.registry.ask(message)

    @handler
    def on_lost(self, _: AgentLost) -> None:
        self.lost_at = time.monotonic()
        self.lost.set()


async def offline_latency(interval: float, root: Path) -> tuple[float, float]:
    catalog = load_catalog(CATALOG)
    async with ActorSystem() as system:
        registry = await system.spawn(Registry, name="registry")
        link_actor = Link(registry)
        link = await system.spawn(lambda: link_actor)
        await system.spawn(
            lambda: ansible_agent(
                catalog, target_root=root / "target", work_dir=root / "work", output_cap=4096,
                name="desk", registry=link, heartbeat_interval_s=interval,
                sampler=SystemSampler(gpus=False),
            ),
            name="desk",
        )  # fmt: skip
        run_actor = Run(registry)
        run = await system.spawn(lambda: run_actor)
        await run.ask(Route(uuid.uuid4(), uuid.uuid4(), 1, Needs()))
        await link_actor.beat.wait()
        link_actor.up = False
        cut = time.monotonic()
        with anyio.fail_after(interval * 10 + 5):
            await run_actor.lost.wait()
        await system.stop(system.lookup("desk"))
        return run_actor.lost_at - link_actor.last_beat, run_actor.lost_at - cut


async def round_trips(root: Path, rounds: int) -> dict[str, float]:
    catalog = load_catalog(CATALOG)
    resources = root / "gpu.json"
    gpu = {"index": 0, "name": "GPU", "utilisation_percent": 1, "vram_total_mb": 24576}
    resources.write_text(json.dumps({"gpus": [{**gpu, "vram_free_mb": 20000}]}))
    async with ActorSystem() as system:
        registry = await system.spawn(Registry, name="registry")
        agent = await system.spawn(
            lambda: ansible_agent(
                catalog, target_root=root / "target", work_dir=root / "work", output_cap=4096,
                name="desk", registry=registry, sampler=FileSampler(resources),
            ),
            name="desk",
        )  # fmt: skip
        run = await system.spawn(lambda: Run(registry))
        times: dict[str, list[float]] = {"capacity query": [], "route (registry + query)": []}
        for _ in range(rounds):
            start = time.perf_counter()
            await agent.ask(CapacityQuery(run_id=uuid.uuid4(), step_id=uuid.uuid4(), needs=Needs()))
            times["capacity query"].append(time.perf_counter() - start)
            start = time.perf_counter()
            await run.ask(Route(uuid.uuid4(), uuid.uuid4(), 1, Needs()))
            times["route (registry + query)"].append(time.perf_counter() - start)
        return {k: statistics.median(v) for k, v in times.items()}


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for interval in (0.1, 0.5, 1.0):
            since_beat, since_cut = [], []
            for _ in range(rounds):
                beat, cut = await offline_latency(interval, root)
                since_beat.append(beat)
                since_cut.append(cut)
            print(
                f"heartbeat every {interval:g} s: offline {statistics.median(since_beat):.3f} s "
                f"after the last heartbeat (max {max(since_beat):.3f}, "
                f"{max(since_beat) / interval:.2f} intervals), "
                f"{statistics.median(since_cut):.3f} s after the cut (median of {rounds})"
            )
        print(f"one SystemSampler sample: {measure(SystemSampler()) * 1e6:.0f} µs")
        (root / "f.json").write_text(json.dumps({"gpus": []}))
        print(f"one FileSampler sample: {measure(FileSampler(root / 'f.json')) * 1e6:.0f} µs")
        for name, seconds in (await round_trips(root, 200)).items():
            print(f"{name}: {seconds * 1e6:.0f} µs (median of 200)")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 5)
