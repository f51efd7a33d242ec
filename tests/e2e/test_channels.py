"""One run through three channels at once: ``chiffon run`` submits it (through the library's
``System.run``) and waits at its prompt; this process, through the library, follows it with a
``RunHandle.events()`` started late and decides on it; ``chiffon approve`` in a third process
approves it. The first decision wins, a later one is told who made it, a decision on a stale
revision is refused, and the prompt goes on as soon as a decision is made elsewhere."""

from __future__ import annotations

import getpass
import re
import threading
import uuid
from pathlib import Path

import anyio
import pytest

from chiffon.assembly import open_runs
from chiffon.runs import Identity, RunEvent, StaleRevision
from chiffon.settings import Settings
from tests.e2e.conftest import CATALOG, PROMPT, REQUEST, Terminal, chiffon, words

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

_DECIDE_HINT = re.compile(r"chiffon approve ([0-9a-f-]{36})")


def waiting_run(terminal: Terminal) -> uuid.UUID:
    """The id of the run ``terminal`` is asking about (its prompt names the command that
    decides it from elsewhere)."""
    before = terminal.expect(PROMPT)
    found = _DECIDE_HINT.findall(before)
    assert found, before[-2000:]
    return uuid.UUID(found[-1])


async def follow(dsn: str, run_id: uuid.UUID, tmp_path: Path) -> list[RunEvent]:
    settings = Settings.load(home=tmp_path / "library-home", database_url=dsn)
    async with open_runs(settings) as runs:
        handle = await runs.get(str(run_id).replace("-", "")[:20])  # a dashless prefix
        return [event async for event in handle.events()]


def test_one_run_decided_from_the_library_and_another_terminal_while_its_prompt_waits(
    env: dict[str, str], machine_dsn: str, tmp_path: Path
) -> None:
    me = getpass.getuser()
    terminal = Terminal("run", "--catalog", str(CATALOG), REQUEST, env=env, timeout=120)
    run_id = waiting_run(terminal)
    # A watcher started late (the plan is proposed already) and kept on to the end.
    watched: list[RunEvent] = []
    watcher = threading.Thread(
        target=lambda: watched.extend(anyio.run(follow, machine_dsn, run_id, tmp_path))
    )
    watcher.start()

    async def library() -> str:
        settings = Settings.load(home=tmp_path / "library-home", database_url=machine_dsn)
        async with open_runs(settings) as runs:
            handle = await runs.get(run_id)
            first = await runs.pending(run_id)
            assert first is not None
            assert first.revision == 1
            # The library sends the plan back; the waiting prompt stops and asks about the
            # next revision.
            by = Identity(name="library-user", channel="library")
            await handle.decide(
                "modify", plan_hash=first.plan_hash, revision=1, by=by,
                feedback="use port 3002",
            )  # fmt: skip
            return str(first.plan_hash)

    first_hash = anyio.run(library)
    revised = terminal.expect(PROMPT)
    assert "modify by library-user via library: use port 3002" in words(revised)
    assert "plan revision 2" in revised

    # A decision on the revision it replaced is refused, naming the current one.
    stale = chiffon("approve", str(run_id), "--revision", "1", env=env)
    assert stale.returncode == 1, stale.stderr
    assert "revision 2" in stale.stderr
    assert "is the one awaiting approval" in stale.stderr

    async def library_stale() -> None:
        settings = Settings.load(home=tmp_path / "library-home", database_url=machine_dsn)
        async with open_runs(settings) as runs:
            handle = await runs.get(run_id)
            with pytest.raises(StaleRevision) as refused:
                await handle.decide(
                    "approve", plan_hash=first_hash, revision=1,
                    by=Identity(name="library-user", channel="library"),
                )  # fmt: skip
            assert refused.value.current_revision == 2

    anyio.run(library_stale)

    # Another terminal approves revision 2; the prompt goes on at once.
    approved = chiffon("approve", str(run_id)[:13], env=env)
    assert approved.returncode == 0, approved.stderr
    assert f"run {run_id}: plan revision 2" in approved.stdout
    assert f"approved by {me}" in approved.stdout
    assert terminal.finish() == 0, terminal.seen[-3000:]
    assert f"approved by {me} via terminal" in words(terminal.seen)

    # A second approval is told who decided first, and when.
    again = chiffon("approve", str(run_id), env=env)
    assert again.returncode == 1
    assert f"already decided: approve by {me} via terminal at " in again.stderr

    # The watcher, from a dashless prefix, got every event from the first, in order, once,
    # and ended with the run.
    watcher.join(timeout=60)
    assert not watcher.is_alive()
    events = watched
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    kinds = [e.kind for e in events]
    assert kinds[:3] == ["plan.ready", "plan.proposed", "decision"]
    assert kinds[-1] == "run.finished"
    assert events[-1].data["status"] == "succeeded"
    decided = [(e.data["decision"], e.data["by"], e.data["channel"], e.data["revision"])
               for e in events if e.kind == "decision"]  # fmt: skip
    assert decided == [("modify", "library-user", "library", 1), ("approve", me, "terminal", 2)]
    assert kinds.count("plan.proposed") == 2
    assert kinds.count("step.started") == 2
    assert kinds.count("step.result") == 2
    assert "step.output" in kinds
