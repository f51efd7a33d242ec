"""The agent answers while a playbook runs: capacity (a live sample minus what it reserved),
the status of its attempts, and a redelivered StepExecute, which never runs twice."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from chiffon.actors import ActorSystem, LocalRef
from chiffon.agents.infra import ansible_agent
from chiffon.agents.resources import FileSampler
from chiffon.catalog import Catalog
from chiffon.protocol import (
    CapacityOffer,
    CapacityQuery,
    Needs,
    StepStatusQuery,
    StepStatusReport,
)

from .standin import Dispatch, RunStandIn, step

GPU = {"index": 0, "name": "Test GPU", "utilisation_percent": 5, "vram_total_mb": 16384}


def gpu_file(path: Path, free_mb: int) -> Path:
    path.write_text(json.dumps({"gpus": [{**GPU, "vram_free_mb": free_mb}]}))
    return path


async def spawn(
    system: ActorSystem, catalog: Catalog, tmp_path: Path, resources: Path | None = None
) -> tuple[LocalRef, RunStandIn]:
    infra = await system.spawn(
        lambda: ansible_agent(
            catalog, target_root=tmp_path / "target", work_dir=tmp_path / "work",
            output_cap=4096, name="desk-1", kind="desktop",
            sampler=FileSampler(resources or tmp_path / "none.json"),
        ),
        name="desk-1",
    )  # fmt: skip
    stand_in = RunStandIn(infra)
    await system.spawn(lambda: stand_in, name="run")
    return infra, stand_in


def waiting(run: RunStandIn) -> bool:
    """The slow step waits for its file (its directory exists)."""
    return any(o.task == "Wait for a file that never comes" for o in run.outputs)


def query(needs: Needs, step_id: uuid.UUID | None = None) -> CapacityQuery:
    return CapacityQuery(run_id=uuid.uuid4(), step_id=step_id or uuid.uuid4(), needs=needs)


async def test_capacity_is_the_live_sample_minus_what_accepted_steps_reserve(
    catalog: Catalog, tmp_path: Path
) -> None:
    resources = gpu_file(tmp_path / "gpu.json", 12000)
    async with ActorSystem() as system:
        infra, _ = await spawn(system, catalog, tmp_path, resources)
        first: CapacityOffer = await infra.ask(query(Needs(gpu_vram_mb=8192)))
        second: CapacityOffer = await infra.ask(query(Needs(gpu_vram_mb=8192)))
        small: CapacityOffer = await infra.ask(query(Needs(gpu_vram_mb=2048)))
        gpu_file(resources, 30000)  # something else freed VRAM: the live figure counts
        later: CapacityOffer = await infra.ask(query(Needs(gpu_vram_mb=8192)))
        memory: CapacityOffer = await infra.ask(query(Needs(memory_mb=10**9)))
    assert first.accepted
    assert first.name == "desk-1"
    assert first.available.gpu_vram_mb == 12000
    assert first.resources.gpus[0].vram_free_mb == 12000
    assert not second.accepted
    assert second.available.gpu_vram_mb == 12000 - 8192
    assert second.reason == "desk-1 lacks 8192 MB of VRAM (3808 MB free)"
    assert small.accepted
    assert later.accepted
    assert later.available.gpu_vram_mb == 30000 - 8192 - 2048
    assert not memory.accepted
    assert memory.reason is not None
    assert memory.reason.startswith("desk-1 lacks 1000000000 MB of memory (")


async def test_a_machine_without_a_gpu_refuses_a_step_that_needs_vram_saying_why(
    catalog: Catalog, tmp_path: Path
) -> None:
    (tmp_path / "no-gpu.json").write_text(json.dumps({"gpus": [], "gpu_note": "no NVIDIA driver"}))
    async with ActorSystem() as system:
        infra, _ = await spawn(system, catalog, tmp_path, tmp_path / "no-gpu.json")
        offer: CapacityOffer = await infra.ask(query(Needs(gpu_vram_mb=1)))
        plain: CapacityOffer = await infra.ask(query(Needs(cpu_cores=1)))
    assert not offer.accepted
    assert offer.reason == "desk-1 has no GPU (no NVIDIA driver)"
    assert plain.accepted


async def test_the_agent_answers_questions_while_a_step_runs_and_reserves_its_needs(
    catalog: Catalog, tmp_path: Path
) -> None:
    resources = gpu_file(tmp_path / "gpu.json", 9000)
    slow = step(catalog, "slow")
    gpu_step = step(catalog, "gpu-job", hosts=("crate",))
    async with ActorSystem() as system:
        infra, run = await spawn(system, catalog, tmp_path, resources)
        await system.lookup("run").tell(Dispatch(slow))
        await run.until(
            lambda: any(o.task == "Wait for a file that never comes" for o in run.outputs)
        )
        status: StepStatusReport = await infra.ask(
            StepStatusQuery(run_id=slow.run_id, step_id=slow.step_id, attempt=1)
        )
        await system.lookup("run").tell(Dispatch(gpu_step))
        gpu_result = await run.next_result()
        # The GPU step reserved 8192 MB while it ran; it has finished, so nothing is held now.
        after: CapacityOffer = await infra.ask(query(Needs(gpu_vram_mb=9000)))
        (tmp_path / "target" / "box" / "never").write_text("")  # let the slow step end
        slow_result = await run.next_result()
        done: StepStatusReport = await infra.ask(
            StepStatusQuery(run_id=slow.run_id, step_id=slow.step_id, attempt=1)
        )
        unknown: StepStatusReport = await infra.ask(
            StepStatusQuery(run_id=slow.run_id, step_id=slow.step_id, attempt=2)
        )
    assert status.state == "running"
    assert gpu_result.step_id == gpu_step.step_id
    assert gpu_result.status == "succeeded"
    assert after.accepted
    assert slow_result.step_id == slow.step_id
    assert slow_result.status == "succeeded"
    assert done.state == "finished"
    assert done.result == slow_result
    assert unknown.state == "unknown"
    assert unknown.reason == "desk-1 never started this attempt"


async def test_a_step_keeps_the_capacity_it_was_accepted_for_until_it_finishes(
    catalog: Catalog, tmp_path: Path
) -> None:
    resources = gpu_file(tmp_path / "gpu.json", 9000)
    held = step(catalog, "slow")
    async with ActorSystem() as system:
        infra, run = await spawn(system, catalog, tmp_path, resources)
        # Accepted for this step id: the capacity is held until its StepExecute arrives...
        offer: CapacityOffer = await infra.ask(query(Needs(gpu_vram_mb=6000), held.step_id))
        await system.lookup("run").tell(Dispatch(held))
        await run.until(lambda: waiting(run))
        # ...and then reserved while it runs.
        refused: CapacityOffer = await infra.ask(query(Needs(gpu_vram_mb=6000)))
        (tmp_path / "target" / "box" / "never").write_text("")
        await run.next_result()
        accepted: CapacityOffer = await infra.ask(query(Needs(gpu_vram_mb=6000)))
    assert offer.accepted
    assert not refused.accepted
    assert refused.available.gpu_vram_mb == 3000
    assert accepted.accepted


async def test_a_redelivered_step_execute_never_runs_twice(
    catalog: Catalog, tmp_path: Path
) -> None:
    execute = step(catalog, "slow")
    async with ActorSystem() as system:
        _, run = await spawn(system, catalog, tmp_path)
        await system.lookup("run").tell(Dispatch(execute))
        await run.until(lambda: waiting(run))
        await system.lookup("run").tell(Dispatch(execute))  # while it runs
        (tmp_path / "target" / "box" / "never").write_text("")
        first = await run.next_result()
        await system.lookup("run").tell(Dispatch(execute))  # once it has finished
        again = await run.next_result()
    assert first.status == "succeeded"
    assert again == first
    starts = [o for o in run.outputs if o.event == "playbook_on_start"]
    assert len(starts) == 1, "the playbook ran more than once"
