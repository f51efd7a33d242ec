"""An orchestrator that stops while a step runs on a remote agent: the next one resumes the
run by asking the agent what became of the attempt — still running (waited for), finished
(its result), or no answer (interrupted, and a new attempt elsewhere). The agent lives in an
actor system of its own that outlives both orchestrators; the first orchestrator's process is
made to look dead by its run's owner (what a crash leaves)."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from sqlalchemy import select, update

from chiffon import RunFinished, System
from chiffon.actors import ActorRef, ActorSystem, handler
from chiffon.actors.actor import Actor
from chiffon.database import Database
from chiffon.journal.schema import transitions
from chiffon.protocol import StepResult, StepStatusQuery, StepStatusReport
from chiffon.run_records import runs, steps
from chiffon.settings import Settings

from .agents import Cut, Events, Link, Reconnect, desktop, resource_file
from .test_capacity import until_napping

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CATALOG = Path(__file__).parent / "capacity"
_GONE_PID = next(pid for pid in range(999_999, 1, -1) if not psutil.pid_exists(pid))
DEAD = f"{socket.gethostname()}:{_GONE_PID}:0.00"
"""The owner a crashed orchestrator leaves on its runs: a process of this host that is gone."""


def settings(tmp_path: Path, dsn: str, **more: Any) -> Settings:
    local = resource_file(tmp_path / "local.json", vram_free_mb=None, memory_available_mb=1000)
    return Settings.load(
        home=tmp_path / "home", database_url=dsn, target_root=tmp_path / "target",
        audit_dir=tmp_path / "audit", log_level="warning", resource_file=local, **more,
    )  # fmt: skip


@dataclasses.dataclass
class Ask:
    agent: ActorRef
    query: StepStatusQuery


class Watcher(Actor):
    """Asks an agent about an attempt (so that its result comes here) and keeps the result."""

    def __init__(self) -> None:
        self.result: StepResult | None = None
        self.done = anyio.Event()

    @handler
    async def ask(self, message: Ask) -> None:
        await message.agent.tell(message.query)

    @handler
    def report(self, _: StepStatusReport) -> None:
        pass

    @handler
    def finished(self, message: StepResult) -> None:
        self.result = message
        self.done.set()


@dataclasses.dataclass
class Crashed:
    """What the first orchestrator left: a run whose attempt naps on desk-1."""

    run_id: uuid.UUID
    query: StepStatusQuery
    desk: ActorRef
    link: ActorRef


async def first_orchestrator(
    config: Settings, desk_process: ActorSystem, tmp_path: Path
) -> Crashed:
    """Start a run whose step naps on desk-1, then stop the orchestrator as if it crashed
    (desk-1's link to it cut, the run's owner a dead process)."""
    events = Events()
    async with System(config, catalog=CATALOG) as system:
        link = await desk_process.spawn(Link, system.domain.registry)
        desk = await desktop(
            desk_process, system.domain.catalog, tmp_path, link, "desk-1", interval_s=0.2
        )
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                await system.run("nap on box", approver=lambda p: True, listener=events)

            tg.start_soon(run)
            started = await events.until("step.started")
            await until_napping(events)
            await link.tell(Cut())
            tg.cancel_scope.cancel()
        await system.database.execute(
            update(runs).where(runs.c.id == started.run_id).values(owner=DEAD)
        )
    query = StepStatusQuery(
        run_id=started.run_id, step_id=started.data["step_id"], attempt=started.data["attempt"]
    )
    return Crashed(started.run_id, query, desk, link)


async def history(db: Database, run_id: uuid.UUID) -> tuple[list[str], list[Any]]:
    moves = await db.fetch(
        select(transitions.c.to_state)
        .where(transitions.c.entity_kind == "run", transitions.c.entity_id == str(run_id))
        .order_by(transitions.c.seq)
    )
    rows = await db.fetch(
        select(steps).where(steps.c.run_id == run_id).order_by(steps.c.position, steps.c.attempt)
    )
    return [m["to_state"] for m in moves], [
        (r["attempt"], r["agent"], r["status"], r["reason"]) for r in rows
    ]


async def test_a_resumed_run_waits_for_the_attempt_its_remote_agent_still_runs(
    machine_dsn: str, tmp_path: Path
) -> None:
    config = settings(tmp_path, machine_dsn)
    with anyio.fail_after(120):
        async with ActorSystem() as desk_process:
            crashed = await first_orchestrator(config, desk_process, tmp_path)
            run_id = crashed.run_id
            events = Events()
            summary: list[RunFinished] = []
            async with System(config, catalog=CATALOG) as system:
                await crashed.link.tell(Reconnect(system.domain.registry))
                async with anyio.create_task_group() as tg:

                    async def resume() -> None:
                        summary.append(
                            await system.resume(run_id, approver=lambda p: True, listener=events)
                        )

                    tg.start_soon(resume)
                    report = await events.until(StepStatusReport)
                    (tmp_path / "desk-1" / "target" / "box" / "release").write_text("")
                [finished] = summary
                states, tries = await history(system.database, run_id)
    assert (report.name, report.state) == ("desk-1", "running")
    assert finished.status == "succeeded"
    assert states[-4:] == ["running", "interrupted", "running", "succeeded"]
    assert tries == [(1, "desk-1", "succeeded", None)], "the attempt ran once, and finished"
    assert (tmp_path / "desk-1" / "target" / "box" / "nap.txt").exists()


async def test_a_resumed_run_takes_the_result_of_an_attempt_that_finished_meanwhile(
    machine_dsn: str, tmp_path: Path
) -> None:
    config = settings(tmp_path, machine_dsn)
    with anyio.fail_after(120):
        async with ActorSystem() as desk_process:
            crashed = await first_orchestrator(config, desk_process, tmp_path)
            # With no orchestrator, the nap ends (a watcher hears when); the result stays in
            # desk-1's ledger.
            watcher = Watcher()
            watching = await desk_process.spawn(lambda: watcher)
            await watching.tell(Ask(crashed.desk, crashed.query))
            (tmp_path / "desk-1" / "target" / "box" / "release").write_text("")
            await watcher.done.wait()
            async with System(config, catalog=CATALOG) as system:
                await crashed.link.tell(Reconnect(system.domain.registry))
                finished = await system.resume(crashed.run_id, approver=lambda p: True)
                states, tries = await history(system.database, crashed.run_id)
    assert watcher.result is not None
    assert watcher.result.status == "succeeded"
    assert finished.status == "succeeded"
    assert states[-3:] == ["interrupted", "running", "succeeded"]
    assert tries == [(1, "desk-1", "succeeded", None)]


async def test_a_resumed_run_interrupts_an_attempt_whose_agent_does_not_answer_and_retries(
    machine_dsn: str, tmp_path: Path
) -> None:
    config = settings(tmp_path, machine_dsn, agent_status_wait_s=0.5)
    (tmp_path / "target" / "box").mkdir(parents=True)
    (tmp_path / "target" / "box" / "release").write_text("")  # the local agent's nap is short
    with anyio.fail_after(120):
        async with ActorSystem() as desk_process:
            crashed = await first_orchestrator(config, desk_process, tmp_path)
            # desk-1 stays cut off: the new orchestrator never hears from it.
            async with System(config, catalog=CATALOG) as system:
                finished = await system.resume(crashed.run_id, approver=lambda p: True)
                states, tries = await history(system.database, crashed.run_id)
            (tmp_path / "desk-1" / "target" / "box" / "release").write_text("")
    assert finished.status == "succeeded"
    assert states[-3:] == ["interrupted", "running", "succeeded"]
    [(a1, agent1, status1, reason1), (a2, agent2, status2, _)] = tries
    assert (a1, agent1, status1) == (1, "desk-1", "interrupted")
    assert reason1 == "its agent desk-1 did not say within 0.5 s what became of it"
    assert (a2, agent2, status2) == (2, "local", "succeeded")
