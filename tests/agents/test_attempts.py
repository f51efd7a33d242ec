"""One attempt of a step at a time on an agent, with real runs of each executor (ansible-playbook,
the probe worker): a newer attempt of a step stops the older one still running here
(superseded), a ``StepCancel`` stops the attempt it names, and an attempt older than one the
ledger holds is refused. Each stopped attempt's processes (and only its own) are gone, and the
ledger says why it ended. A ledger from before attempts named their step's position still
opens, and works."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import anyio
import psutil
import pytest

from chiffon.actors import ActorSystem, LocalRef
from chiffon.agents.errors import AttemptOutdated
from chiffon.agents.infra.processes import attempt_marker, processes_naming
from chiffon.agents.ledger import Attempt, Ledger
from chiffon.catalog import Catalog
from chiffon.protocol import StepCancel, StepExecute, StepStatusQuery, StepStatusReport
from tests.recovery.lab import Lab

from .executors import Flavour
from .standin import Dispatch, RunStandIn

NAME = "desk-1"


async def spawn(
    system: ActorSystem, catalog: Catalog, root: Path, flavour: Flavour
) -> tuple[LocalRef, RunStandIn]:
    infra = await system.spawn(lambda: flavour.build(catalog, root, name=NAME), name=NAME)
    stand_in = RunStandIn(infra)
    await system.spawn(lambda: stand_in, name="run")
    return infra, stand_in


def marker(execute: StepExecute) -> str:
    """What the command lines of that attempt's processes name: its work directory."""
    return attempt_marker(execute.step_id, execute.attempt)


alive = Lab.alive


async def sleeping(flavour: Flavour, execute: StepExecute) -> list[psutil.Process]:
    """Wait until the attempt waits (Ansible in the wait_for module, the probe worker in its
    probe); its processes then (ansible-playbook, its worker, the module; the probe worker)."""
    with anyio.fail_after(60):
        while True:
            found = processes_naming(marker(execute))
            if waiting(flavour, found):
                return found
            await anyio.sleep(0.05)


def waiting(flavour: Flavour, processes: list[psutil.Process]) -> list[psutil.Process]:
    """The process among ``processes`` that waits."""
    return [p for p in processes if flavour.waiting(p)]


def ledger_row(root: Path, execute: StepExecute) -> Attempt | None:
    ledger = Ledger(root / "work" / f"ledger-{NAME}.sqlite3", "the test")
    try:
        return ledger.get(execute.step_id, execute.attempt)
    finally:
        ledger.close()


async def status(infra: LocalRef, execute: StepExecute) -> StepStatusReport:
    query = StepStatusQuery(run_id=execute.run_id, step_id=execute.step_id, attempt=execute.attempt)
    report: StepStatusReport = await infra.ask(query)
    return report


def starts(flavour: Flavour, run: RunStandIn, execute: StepExecute) -> int:
    """How many times the attempt started (its outputs say)."""
    return sum(
        1 for o in run.outputs if o.step_id == execute.step_id and o.event == flavour.start_event
    )


async def test_a_newer_attempt_of_a_step_stops_the_older_one_first_and_runs_once(
    catalog: Catalog, tmp_path: Path, flavour: Flavour
) -> None:
    first = flavour.slow(catalog, tmp_path)
    # What the orchestrator sends once it gave up on the first: the same step (run and
    # position), a step id of its own, the next attempt.
    second = flavour.slow(catalog, tmp_path, run_id=first.run_id, step_id=uuid.uuid4(), attempt=2)
    bystander = flavour.slow(catalog, tmp_path, "crate")  # another step, also running here
    async with ActorSystem() as system:
        infra, run = await spawn(system, catalog, tmp_path, flavour)
        await system.lookup("run").tell(Dispatch(first))
        await system.lookup("run").tell(Dispatch(bystander))
        first_processes = await sleeping(flavour, first)
        bystander_processes = waiting(flavour, await sleeping(flavour, bystander))

        await system.lookup("run").tell(Dispatch(second))
        superseded = await run.next_result()
        left_of_first = alive(first_processes) + processes_naming(marker(first))
        second_processes = await sleeping(flavour, second)
        bystander_left = alive(bystander_processes)
        report = await status(infra, first)
        flavour.release(tmp_path)  # let the second attempt end
        finished = await run.next_result()
        flavour.release(tmp_path, "crate")
        await run.until(lambda: len(run.results) == 3)
    assert (superseded.step_id, superseded.attempt) == (first.step_id, 1)
    assert superseded.status == "interrupted"
    assert superseded.failure is not None
    assert superseded.failure.error == "superseded by attempt 2"
    assert left_of_first == [], "the superseded attempt's processes still run"
    assert bystander_left == bystander_processes, "another step's processes were stopped"
    assert report.state == "finished"
    assert report.result == superseded
    # In the ledger, the first attempt had ended before the second was recorded.
    old, new = ledger_row(tmp_path, first), ledger_row(tmp_path, second)
    assert old is not None
    assert new is not None
    assert old.result == superseded
    assert old.finished_at is not None
    assert old.finished_at <= new.started_at
    assert (new.position, new.state) == (0, "finished")
    assert (finished.step_id, finished.attempt, finished.status) == (second.step_id, 2, "succeeded")
    assert second_processes
    assert processes_naming(marker(second)) == []
    assert starts(flavour, run, first) == 1
    assert starts(flavour, run, second) == 1, "the second attempt ran more than once"
    if flavour.writes:
        assert (tmp_path / "target" / "box" / "waited.txt").read_text() == "waited\n"
    assert {r.step_id: r.status for r in run.results}[bystander.step_id] == "succeeded"


async def test_a_cancel_stops_the_attempt_it_names_and_changes_nothing_else(
    catalog: Catalog, tmp_path: Path, flavour: Flavour
) -> None:
    running = flavour.slow(catalog, tmp_path)
    done = flavour.quick(catalog, tmp_path)
    never = flavour.quick(catalog, tmp_path)
    reason = "lost its agent: desk-1 missed 2 heartbeats"
    async with ActorSystem() as system:
        infra, run = await spawn(system, catalog, tmp_path, flavour)
        await system.lookup("run").tell(Dispatch(done))
        written = await run.next_result()
        await system.lookup("run").tell(Dispatch(running))
        processes = await sleeping(flavour, running)

        await infra.tell(
            StepCancel(run_id=running.run_id, step_id=running.step_id, attempt=1, reason=reason)
        )
        cancelled = await run.next_result()
        left = alive(processes) + processes_naming(marker(running))
        # A cancel for an attempt that finished, and for one never seen here: nothing happens
        # (the status questions after them are answered once they have been handled).
        for execute in (done, never):
            await infra.tell(
                StepCancel(run_id=execute.run_id, step_id=execute.step_id, attempt=1, reason=reason)
            )
        reports = [await status(infra, e) for e in (running, done, never)]
    assert (cancelled.step_id, cancelled.status) == (running.step_id, "interrupted")
    assert cancelled.failure is not None
    assert cancelled.failure.error == f"cancelled by the orchestrator: {reason}"
    assert left == []
    assert written.status == "succeeded"
    assert [r.state for r in reports] == ["finished", "finished", "unknown"]
    assert [r.result for r in reports[:2]] == [cancelled, written]
    assert run.results == [written, cancelled]
    assert ledger_row(tmp_path, never) is None
    assert not (tmp_path / "target" / "box" / "waited.txt").exists()


async def test_an_attempt_older_than_one_the_ledger_holds_is_refused_and_never_runs(
    catalog: Catalog, tmp_path: Path, flavour: Flavour
) -> None:
    first, second = (
        ({"greeting": "first"}, {"greeting": "second"}) if flavour.writes
        else ({"min_free_mb": 2}, {"min_free_mb": 3})
    )  # fmt: skip
    newer = flavour.quick(catalog, tmp_path, attempt=2, variables=second)
    older = flavour.quick(catalog, tmp_path, run_id=newer.run_id, variables=first)
    other_step = flavour.quick(catalog, tmp_path, run_id=newer.run_id, position=1)
    async with ActorSystem() as system:
        infra, run = await spawn(system, catalog, tmp_path, flavour)
        await system.lookup("run").tell(Dispatch(newer))
        await run.next_result()
        await system.lookup("run").tell(Dispatch(older))
        refused = await run.next_result()
        await system.lookup("run").tell(Dispatch(other_step))  # attempt 1 of the next step
        next_step = await run.next_result()
        report = await status(infra, older)
    assert (refused.step_id, refused.attempt, refused.status) == (older.step_id, 1, "failed")
    assert refused.failure is not None
    assert refused.failure.error == (
        "refused: attempt 1 of step 1 is older than attempt 2, which this agent already had: "
        "it never runs"
    )
    assert starts(flavour, run, older) == 0
    assert report.state == "unknown"
    assert ledger_row(tmp_path, older) is None
    assert next_step.status == "succeeded"
    if flavour.writes:
        assert (tmp_path / "target" / "box" / "greeting.txt").read_text() == "hi\n"


def test_a_ledger_written_before_attempts_named_their_position_is_upgraded_in_place(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE attempts (step_id TEXT NOT NULL, attempt INTEGER NOT NULL, run_id TEXT"
        " NOT NULL, envelope_id TEXT, owner TEXT NOT NULL, state TEXT NOT NULL, result TEXT,"
        " started_at REAL NOT NULL, finished_at REAL, PRIMARY KEY (step_id, attempt))"
    )
    run_id, old_step = uuid.uuid4(), uuid.uuid4()
    db.execute(
        "INSERT INTO attempts VALUES (?, 1, ?, NULL, 'host:1:0', 'started', NULL, 1.0, NULL)",
        (str(old_step), str(run_id)),
    )
    db.commit()
    db.close()
    ledger = Ledger(path, "host:2:0")
    try:
        [kept] = ledger.unfinished()
        newer = ledger.begin(run_id, uuid.uuid4(), 2, None, 0)
        with pytest.raises(AttemptOutdated):
            ledger.begin(run_id, uuid.uuid4(), 1, None, 0)
    finally:
        ledger.close()
    assert (kept.step_id, kept.position) == (old_step, None)
    assert newer is None
