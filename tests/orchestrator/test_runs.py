"""Runs through ``chiffon.System`` in-process, on the machine's PostgreSQL and real Ansible:
a failing step leaves a failure record and skips what follows; a rejection runs nothing; a
request that names nothing is rejected before anyone is asked."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import pytest
from sqlalchemy import select

from chiffon import RunEvent, RunFinished, System, Verdict
from chiffon.audit.tables import failures
from chiffon.journal.schema import transitions
from chiffon.protocol import PlanProposed
from chiffon.run_records import approvals, runs, steps
from chiffon.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CATALOG = Path(__file__).parent / "catalog"


def settings(tmp_path: Path, dsn: str) -> Settings:
    return Settings.load(
        home=tmp_path / "home", database_url=dsn, target_root=tmp_path / "target",
        audit_dir=tmp_path / "audit", log_level="warning",
    )  # fmt: skip


async def test_a_failing_step_is_recorded_and_the_steps_after_it_are_skipped(
    machine_dsn: str, tmp_path: Path
) -> None:
    seen: list[RunEvent] = []
    with anyio.fail_after(90):
        async with System(settings(tmp_path, machine_dsn), catalog=CATALOG) as system:
            summary = await system.run(
                "alpha, breakage and omega on box", approver=lambda p: True,
                approver_name="tester", listener=seen.append,
            )  # fmt: skip
            db = system.database
            run = await db.fetch_one(select(runs).where(runs.c.id == summary.run_id))
            attempts = await db.fetch(
                select(steps).where(steps.c.run_id == summary.run_id).order_by(steps.c.position)
            )
            failed = await db.fetch(select(failures).where(failures.c.run_id == summary.run_id))
            moves = await db.fetch(
                select(transitions.c.to_state)
                .where(transitions.c.entity_id == str(summary.run_id))
                .order_by(transitions.c.seq)
            )
    assert isinstance(summary, RunFinished)
    assert summary.status == "failed"
    assert summary.reason is not None
    assert "breakage failed" in summary.reason
    assert [(s.playbook, s.status) for s in summary.steps] == [
        ("prepare", "succeeded"), ("breakage", "failed"), ("finish", "skipped"),
    ]  # fmt: skip
    assert run is not None
    assert run["status"] == "failed"
    assert [m["to_state"] for m in moves] == [
        "received", "planning", "awaiting_approval", "approved", "running", "failed",
    ]  # fmt: skip
    assert [a["status"] for a in attempts] == ["succeeded", "failed", "skipped"]
    assert attempts[1]["stats"]["box"]["failed"] == 1
    [failure] = failed
    assert failure["host"] == "box"
    assert failure["task"] == "Refuse to go on"
    assert "the disk is full" in failure["error"]
    assert (tmp_path / "target" / "box" / "prepare.txt").exists()
    assert not (tmp_path / "target" / "box" / "finish.txt").exists()
    kinds = {event.kind for event in seen}
    assert {"plan.ready", "plan.proposed", "decision", "step.started", "step.output",
            "step.result", "run.finished"} <= kinds  # fmt: skip
    assert [event.id for event in seen] == list(range(1, len(seen) + 1))


async def test_a_rejected_plan_runs_nothing_and_records_who_rejected_it(
    machine_dsn: str, tmp_path: Path
) -> None:
    proposals: list[PlanProposed] = []

    def reject(proposal: PlanProposed) -> Verdict:
        proposals.append(proposal)
        return Verdict("reject")

    with anyio.fail_after(60):
        async with System(settings(tmp_path, machine_dsn), catalog=CATALOG) as system:
            summary = await system.run("alpha on box", approver=reject, approver_name="ada")
            decisions = await system.database.fetch(
                select(approvals).where(approvals.c.run_id == summary.run_id)
            )
            attempts = await system.database.fetch(
                select(steps).where(steps.c.run_id == summary.run_id)
            )
    assert summary.status == "rejected"
    assert summary.reason == "rejected by ada"
    [decision] = decisions
    assert decision["decision"] == "reject"
    assert decision["approver"] == "ada"
    assert decision["channel"] == "library"
    assert decision["plan_hash"] == proposals[0].plan_hash
    assert attempts == []
    assert not (tmp_path / "target").exists()


async def test_a_request_that_names_nothing_is_rejected_before_anyone_is_asked(
    machine_dsn: str, tmp_path: Path
) -> None:
    asked: list[PlanProposed] = []

    def approve(plan: PlanProposed) -> bool:
        asked.append(plan)
        return True

    with anyio.fail_after(60):
        async with System(settings(tmp_path, machine_dsn), catalog=CATALOG) as system:
            summary = await system.run("install a minecraft server", approver=approve)
    assert summary.status == "rejected"
    assert summary.reason is not None
    assert summary.reason.startswith("needs clarification: ")
    assert "minecraft" in summary.reason
    assert asked == []


async def test_resuming_a_run_that_does_not_exist_says_so(machine_dsn: str, tmp_path: Path) -> None:
    from chiffon.orchestrator.errors import RunNotFound

    async with System(settings(tmp_path, machine_dsn), catalog=CATALOG) as system:
        with pytest.raises(RunNotFound, match="no run"):
            await system.resume(uuid.uuid4(), approver=lambda p: True)
