"""The agent's presence, as a registry hears it: an announcement from the agent itself (its ref
is the sender), heartbeats with fresh samples and the running step ids, a new announcement
when asked to, and a goodbye when it stops. And the samplers that feed them."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from chiffon.actors import ActorSystem, LocalRef, handler
from chiffon.actors.actor import Actor
from chiffon.agents.errors import ResourceFileInvalid
from chiffon.agents.infra import ansible_agent
from chiffon.agents.resources import FileSampler, SystemSampler, gpu_samples
from chiffon.catalog import Catalog
from chiffon.protocol import AgentAnnounce, AgentGoodbye, AgentHeartbeat, AgentsDiscover

GPU = {"index": 0, "name": "Test GPU", "utilisation_percent": 5, "vram_total_mb": 16384}


class RegistryStandIn(Actor):
    """Records what agents say, with the sender of each."""

    def __init__(self) -> None:
        self.heard: list[tuple[object, object]] = []
        self._changed = anyio.Event()

    @handler(object)
    def record(self, message: object) -> None:
        self.heard.append((message, self.context.sender))
        self._changed.set()
        self._changed = anyio.Event()

    def of(self, kind: type) -> list[tuple[object, object]]:
        return [(m, s) for m, s in self.heard if isinstance(m, kind)]

    async def until(self, kind: type, count: int) -> None:
        with anyio.fail_after(30):
            while len(self.of(kind)) < count:
                await self._changed.wait()


async def test_an_agent_announces_itself_beats_reannounces_and_says_goodbye(
    catalog: Catalog, tmp_path: Path
) -> None:
    resources = tmp_path / "gpu.json"
    resources.write_text(json.dumps({"gpus": [{**GPU, "vram_free_mb": 16000}]}))
    registry = RegistryStandIn()
    async with ActorSystem() as system:
        registry_ref = await system.spawn(lambda: registry, name="registry")
        agent: LocalRef = await system.spawn(
            lambda: ansible_agent(
                catalog, target_root=tmp_path / "target", work_dir=tmp_path / "work",
                output_cap=4096, name="desk-1", kind="desktop", registry=registry_ref,
                sampler=FileSampler(resources), heartbeat_interval_s=0.05, version="9.9",
            ),
            name="desk-1",
        )  # fmt: skip
        await registry.until(AgentAnnounce, 1)
        resources.write_text(json.dumps({"gpus": [{**GPU, "vram_free_mb": 2000}]}))
        await registry.until(AgentHeartbeat, 3)
        await agent.tell(AgentsDiscover())
        await registry.until(AgentAnnounce, 2)
        await agent.stop()
        await registry.until(AgentGoodbye, 1)
    [(announce, sender), *_] = registry.of(AgentAnnounce)
    assert isinstance(announce, AgentAnnounce)
    assert sender == agent
    assert (announce.name, announce.agent_kind, announce.version) == ("desk-1", "desktop", "9.9")
    assert announce.capabilities == ("ansible", "gpu")
    assert announce.heartbeat_interval_s == 0.05
    assert announce.resources.gpus[0].vram_free_mb == 16000
    beats = [m for m, _ in registry.of(AgentHeartbeat)]
    assert all(isinstance(b, AgentHeartbeat) for b in beats)
    assert [b.seq for b in beats][:3] == [1, 2, 3]  # type: ignore[attr-defined]
    assert {s for _, s in registry.of(AgentHeartbeat)} == {agent}
    assert beats[-1].resources.gpus[0].vram_free_mb == 2000  # type: ignore[attr-defined]
    [(goodbye, goodbye_sender)] = registry.of(AgentGoodbye)
    assert goodbye == AgentGoodbye(name="desk-1", reason="the agent stopped")
    assert goodbye_sender == agent


def test_this_machine_is_sampled_with_its_gpus_or_a_note_saying_why_there_are_none() -> None:
    sample = SystemSampler().sample()
    assert sample.cpu_count >= 1
    assert sample.memory_total_mb >= sample.memory_available_mb > 0
    assert sample.sampled_at.tzinfo is not None
    gpus, note = gpu_samples()
    if gpus:  # NVML found a driver and a GPU: its figures, no note
        assert sample.gpus
        assert note is None
        assert all(g.vram_total_mb >= g.vram_free_mb for g in sample.gpus)
    else:
        assert sample.gpus == ()
        assert sample.gpu_note
        assert sample.gpu_note.startswith(("no NVIDIA driver", "no NVIDIA GPU", "NVML failed"))


def test_a_resource_file_overrides_the_measured_figures_and_is_read_at_every_sample(
    tmp_path: Path,
) -> None:
    path = tmp_path / "resources.json"
    sampler = FileSampler(path)
    measured = sampler.sample()  # no file yet: the machine's own figures
    path.write_text(json.dumps({"gpus": [{**GPU, "vram_free_mb": 4096}], "cpu_count": 64}))
    first = sampler.sample()
    path.write_text(json.dumps({"gpus": [{**GPU, "vram_free_mb": 12288}]}))
    second = sampler.sample()
    assert first.cpu_count == 64
    assert first.vram_free_mb == 4096
    assert first.gpu_note is None
    assert first.memory_total_mb == measured.memory_total_mb
    assert second.vram_free_mb == 12288
    assert second.cpu_count == measured.cpu_count


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1]", "it must hold a JSON object"),
        ('{"gpus": [{"index": 0}]}', "gpus.0.name: Field required"),
        ('{"vram": 3}', "vram: Extra inputs are not permitted"),
    ],
)
def test_an_invalid_resource_file_is_refused_naming_the_field(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "resources.json"
    path.write_text(text)
    with pytest.raises(ResourceFileInvalid) as caught:
        FileSampler(path).sample()
    assert str(caught.value).startswith(f"the resource file {path} is invalid: ")
    assert problem in str(caught.value)
