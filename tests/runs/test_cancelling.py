"""Cancelling a run in every state short of its end: while it plans, as it turns
``awaiting_approval`` (its proposal, with the dry run, not yet open), while it waits for a
decision, and with nobody driving it. Each ends ``cancelled``, with no approval left pending
for anyone to decide on."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from chiffon.assembly import System
from chiffon.errors import ChiffonError
from chiffon.run_records import approvals, runs
from chiffon.runs import AlreadyDecided, Identity, RunEnded, RunHandle
from chiffon.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CATALOG = Path(__file__).parents[1] / "orchestrator" / "catalog"
REQUEST = "alpha and omega on box"
CAROL = Identity(name="carol", channel="api")


async def assert_cancelled(system: System, handle: RunHandle) -> None:
    finished = await handle.result()
    assert finished.status == "cancelled", finished
    assert finished.reason == "cancelled by carol"
    assert await system.runs.pending(handle.id) is None
    run = await system.runs.store.run(handle.id)
    assert run.status == "cancelled"
    if run.revision:  # a plan was proposed: deciding on it now is refused
        with pytest.raises((AlreadyDecided, RunEnded)):
            await handle.decide(
                "approve", plan_hash=run.plan_hash or "", revision=run.revision, by=CAROL
            )


async def cancel_at(handle: RunHandle, kind: str) -> None:
    """Cancel ``handle`` the moment its event ``kind`` is told."""
    async for event in handle.events():
        if event.kind == kind:
            await handle.cancel(by=CAROL)
            return
    raise AssertionError(f"the run ended with no {kind} event")


@pytest.mark.parametrize(
    ("dry_run", "kind"),
    [
        (True, "plan.ready"),  # awaiting_approval, its dry run being made: no proposal yet
        (False, "plan.proposed"),  # awaiting_approval with its proposal open
        (False, None),  # still planning
    ],
)
async def test_a_run_is_cancelled_whatever_it_is_doing(
    machine_dsn: str, tmp_path: Path, dry_run: bool, kind: str | None
) -> None:
    settings = Settings.load(database_url=machine_dsn, home=tmp_path, auto_upgrade=False)
    with anyio.fail_after(100):
        async with System(settings, configure_logs=False, catalog=CATALOG) as system:
            handle = await system.runs.submit(REQUEST, by=CAROL, dry_run=dry_run)
            if kind is None:
                await handle.cancel(by=CAROL)
            else:
                await cancel_at(handle, kind)
            await assert_cancelled(system, handle)


async def test_a_run_nobody_drives_is_cancelled_as_it_waits_for_its_proposal(
    machine_dsn: str, tmp_path: Path
) -> None:
    settings = Settings.load(database_url=machine_dsn, home=tmp_path, auto_upgrade=False)
    with anyio.fail_after(100):
        async with System(settings, configure_logs=False, catalog=CATALOG) as system:
            handle = await system.runs.submit(REQUEST, by=CAROL, dry_run=False)
            async for event in handle.events():
                if event.kind == "plan.proposed":
                    break
            # As a process that died between storing the plan and opening its proposal
            # would leave it: awaiting_approval, owned by nobody alive, nothing pending.
            store = system.runs.store
            await store.db.execute(approvals.delete().where(approvals.c.run_id == handle.id))
            await store.db.execute(runs.update().where(runs.c.id == handle.id).values(owner=None))
            try:
                await handle.cancel(by=CAROL)
            except ChiffonError as exc:
                pytest.fail(f"cancel refused: {exc}")
            run = await store.run(handle.id)
            assert run.status == "cancelled"
            assert await system.runs.pending(handle.id) is None
