"""Runs and the agents that take their steps, in one process, on the machine's PostgreSQL and
real Ansible: a step that needs a GPU pauses the run until a desktop agent with the VRAM joins
(or fails it past the wait limit); an attempt whose agent goes silent, or restarts, is
interrupted and a new attempt goes to an agent that can take it (the silent agent, which
still hears, is told to stop the attempt it was given up on)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from sqlalchemy import select

from chiffon import RunFinished, System
from chiffon.actors import ActorSystem
from chiffon.agents.resources import FileSampler
from chiffon.assembly.agent import spawn_agent
from chiffon.database import Database
from chiffon.journal.schema import transitions
from chiffon.protocol import StepOutput, StepStatusQuery, StepStatusReport
from chiffon.run_records import steps
from chiffon.settings import Settings

from .agents import Cut, Events, Link, desktop, resource_file

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CATALOG = Path(__file__).parent / "capacity"


def settings(tmp_path: Path, dsn: str, **more: Any) -> Settings:
    """The local agent has no GPU here, whatever the machine has (its resource file)."""
    local = resource_file(tmp_path / "local.json", vram_free_mb=None)
    return Settings.load(
        home=tmp_path / "home", database_url=dsn, target_root=tmp_path / "target",
        audit_dir=tmp_path / "audit", log_level="warning", resource_file=local, **more,
    )  # fmt: skip


async def run_states(db: Database, run_id: uuid.UUID) -> list[tuple[str, str | None]]:
    rows = await db.fetch(
        select(transitions.c.to_state, transitions.c.reason)
        .where(transitions.c.entity_kind == "run", transitions.c.entity_id == str(run_id))
        .order_by(transitions.c.seq)
    )
    return [(r["to_state"], r["reason"]) for r in rows]


async def attempts(db: Database, run_id: uuid.UUID) -> list[tuple[int, str | None, str, Any]]:
    rows = await db.fetch(
        select(steps).where(steps.c.run_id == run_id).order_by(steps.c.position, steps.c.attempt)
    )
    return [(r["attempt"], r["agent"], r["status"], r["reason"]) for r in rows]


async def test_a_gpu_run_pauses_until_a_desktop_agent_with_the_vram_joins_then_resumes(
    machine_dsn: str, tmp_path: Path
) -> None:
    events = Events()
    summary: list[RunFinished] = []
    config = settings(tmp_path, machine_dsn, heartbeat_interval_s=0.2)
    with anyio.fail_after(90):
        async with System(config, catalog=CATALOG) as system:
            async with anyio.create_task_group() as tg:

                async def run() -> None:
                    summary.append(
                        await system.run("render on box", approver=lambda p: True, listener=events)
                    )

                tg.start_soon(run)
                paused = await events.until("run.paused")
                # A desktop agent with 16 GiB of free VRAM (its figures from a file) joins.
                gpu = resource_file(tmp_path / "desk-1.json", vram_free_mb=16384)
                await spawn_agent(
                    system.actors, name="desk-1", kind="desktop", catalog=system.domain.catalog,
                    registry=system.domain.registry, settings=config,
                    state_dir=tmp_path / "desk-1", sampler=FileSampler(gpu),
                )  # fmt: skip
                resumed = await events.until("run.resumed")
            [finished] = summary
            states = await run_states(system.database, finished.run_id)
            tries = await attempts(system.database, finished.run_id)
    assert paused.data["reason"] == "no online agent has the gpu capability (online: local)"
    assert resumed.data["agent"] == "desk-1"
    assert finished.status == "succeeded"
    assert [s for s, _ in states] == [
        "received", "planning", "awaiting_approval", "approved", "running", "paused", "running",
        "succeeded",
    ]  # fmt: skip
    assert states[5][1] == (
        "waiting for capacity for step 1 (render): "
        "no online agent has the gpu capability (online: local)"
    )
    assert states[6][1] == "desk-1 has the capacity for step 1 (render)"
    assert tries == [(1, "desk-1", "succeeded", None)]
    assert (tmp_path / "target" / "box" / "render.txt").read_text() == "rendered\n"


async def test_a_run_that_waits_longer_than_the_limit_for_capacity_fails_saying_why(
    machine_dsn: str, tmp_path: Path
) -> None:
    config = settings(tmp_path, machine_dsn, capacity_wait_s=0.5)
    with anyio.fail_after(60):
        async with System(config, catalog=CATALOG) as system:
            finished = await system.run("render on box", approver=lambda p: True)
            states = await run_states(system.database, finished.run_id)
            tries = await attempts(system.database, finished.run_id)
    reason = (
        "no agent could take step 1 (render) within 0.5 s: "
        "no online agent has the gpu capability (online: local)"
    )
    assert finished.status == "failed"
    assert finished.reason == reason
    assert [s for s, _ in states][-3:] == ["running", "paused", "failed"]
    assert states[-1][1] == reason
    assert tries == [(1, None, "skipped", reason)]
    assert not (tmp_path / "target" / "box").exists()


async def test_an_attempt_whose_agent_goes_silent_is_interrupted_and_a_new_one_runs_elsewhere(
    machine_dsn: str, tmp_path: Path
) -> None:
    events = Events()
    summary: list[RunFinished] = []
    # The local agent will take the second attempt: its nap is released from the start.
    (tmp_path / "target" / "box").mkdir(parents=True)
    (tmp_path / "target" / "box" / "release").write_text("")
    config = settings(tmp_path, machine_dsn)
    with anyio.fail_after(90):
        async with System(config, catalog=CATALOG) as system:
            link = await system.spawn(Link, system.domain.registry)
            # desk-1 has the most free memory: the first attempt goes to it, and naps there.
            desk = await desktop(
                system.actors, system.domain.catalog, tmp_path, link, "desk-1", interval_s=0.2
            )
            async with anyio.create_task_group() as tg:

                async def run() -> None:
                    summary.append(
                        await system.run("nap on box", approver=lambda p: True, listener=events)
                    )

                tg.start_soon(run)
                first = await events.until("step.started")
                await until_napping(events)
                await link.tell(Cut())  # nothing desk-1 says arrives; it still hears
                second = await events.until("step.started", 2)
            [finished] = summary
            tries = await attempts(system.database, finished.run_id)
            states = await run_states(system.database, finished.run_id)
            # The run told desk-1 to stop the attempt it gave up on (before routing the next).
            query = StepStatusQuery(run_id=first.run_id, step_id=first.data["step_id"], attempt=1)
            report: StepStatusReport = await desk.ask(query)
    assert finished.status == "succeeded"
    assert second.data["attempt"] == 2
    [(a1, agent1, status1, reason1), (a2, agent2, status2, _)] = tries
    assert (a1, agent1, status1) == (1, "desk-1", "interrupted")
    assert reason1.startswith("lost its agent: desk-1 missed 2 heartbeats (nothing for ")
    assert reason1.endswith("one was due every 0.2 s)")
    assert (a2, agent2, status2) == (2, "local", "succeeded")
    assert "paused" not in [s for s, _ in states]
    assert (tmp_path / "target" / "box" / "nap.txt").exists()
    assert report.state == "finished"
    assert report.result is not None
    assert report.result.status == "interrupted"
    assert report.result.failure is not None
    assert report.result.failure.error == f"cancelled by the orchestrator: {reason1}"
    assert not (tmp_path / "desk-1" / "target" / "box" / "nap.txt").exists()


async def test_an_attempt_cut_off_by_its_agent_restarting_is_interrupted_and_tried_again(
    machine_dsn: str, tmp_path: Path
) -> None:
    events = Events()
    summary: list[RunFinished] = []
    config = settings(tmp_path, machine_dsn)
    with anyio.fail_after(90):
        async with System(config, catalog=CATALOG) as system, ActorSystem() as second_life:
            catalog = system.domain.catalog
            async with anyio.create_task_group() as tg:
                # desk-1 runs in an actor system of its own (a process of its own, as far as
                # the orchestrator can tell), reaching the registry through a link.
                link = await system.spawn(Link, system.domain.registry)
                async with ActorSystem(shutdown_deadline_s=0.1) as first_life:
                    await desktop(first_life, catalog, tmp_path, link, "desk-1")

                    async def run() -> None:
                        summary.append(
                            await system.run("nap on box", approver=lambda p: True, listener=events)
                        )

                    tg.start_soon(run)
                    await until_napping(events)
                    await link.tell(Cut())  # its goodbye will not arrive: as if it were killed
                # Its nap was cut short (its actor system cancelled it). It starts again at
                # once, long before two heartbeat intervals: it finds the attempt in its
                # ledger, and the registry, hearing a new start time, asks what became of it.
                (tmp_path / "desk-1" / "target" / "box" / "release").write_text("")
                link = await system.spawn(Link, system.domain.registry)
                await desktop(second_life, catalog, tmp_path, link, "desk-1")
            [finished] = summary
            tries = await attempts(system.database, finished.run_id)
    assert finished.status == "succeeded"
    [(a1, agent1, status1, reason1), (a2, agent2, status2, _)] = tries
    assert (a1, agent1, status1) == (1, "desk-1", "interrupted")
    assert reason1.startswith("the agent desk-1 stopped while it ran this attempt")
    assert (a2, agent2, status2) == (2, "desk-1", "succeeded")
    assert (tmp_path / "desk-1" / "target" / "box" / "nap.txt").exists()


async def until_returned(summary: list[RunFinished]) -> None:
    """Until ``System.run`` has returned (its listener sees the end a moment before)."""
    with anyio.fail_after(30):
        while not summary:
            await anyio.lowlevel.checkpoint()


async def until_napping(events: Events) -> None:
    """Until the current attempt waits for its release file."""
    with anyio.fail_after(60):
        while not any(o.task == "Wait for the release file" for o in events.of(StepOutput)):
            await events.until(StepOutput, len(events.of(StepOutput)) + 1)
