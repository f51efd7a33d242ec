"""An Ansible agent as the orchestrator sees it: a stand-in for the run actor sends StepExecute and
receives StepOutput lines, then one StepResult; refusals come back as failed results."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chiffon.actors import ActorSystem, InMemoryJournal, LocalRef, Transition
from chiffon.actors.envelope import Envelope
from chiffon.agents.core import preview_plan
from chiffon.agents.infra import NO_CHANGES, ansible_agent
from chiffon.catalog import Catalog
from chiffon.protocol import (
    HostStats,
    Plan,
    PlanStep,
    StepExecute,
    StepPreview,
)

from .standin import Dispatch, RunStandIn, step


async def spawn(
    system: ActorSystem, catalog: Catalog, tmp_path: Path, journal: Any = None
) -> tuple[LocalRef, RunStandIn]:
    infra = await system.spawn(
        lambda: ansible_agent(
            catalog,
            target_root=tmp_path / "target",
            work_dir=tmp_path / "work",
            output_cap=4096,
            journal=journal,
        ),
        name="infra",
    )
    stand_in = RunStandIn(infra)
    await system.spawn(lambda: stand_in, name="run")
    return infra, stand_in


async def test_an_approved_step_streams_its_output_then_its_result_to_the_sender(
    catalog: Catalog, tmp_path: Path
) -> None:
    async with ActorSystem() as system:
        _, run = await spawn(system, catalog, tmp_path)
        execute = step(catalog)
        await system.lookup("run").tell(Dispatch(execute))
        result = await run.next_result()
    assert result.status == "succeeded"
    assert (result.run_id, result.step_id, result.attempt) == (
        execute.run_id,
        execute.step_id,
        1,
    )
    assert result.stats == {"box": HostStats(ok=2, changed=2)}
    assert result.failure is None
    assert (tmp_path / "target" / "box" / "greeting.txt").read_text() == "hi\n"
    assert run.outputs, "no StepOutput arrived"
    assert [o.seq for o in run.outputs] == list(range(len(run.outputs)))
    assert {o.step_id for o in run.outputs} == {execute.step_id}
    assert [o.task for o in run.outputs if o.status == "changed"] == [
        "Make the host's directory",
        "Write the greeting",
    ]


async def test_a_step_whose_playbook_changed_since_approval_is_refused(
    catalog: Catalog, tmp_path: Path
) -> None:
    async with ActorSystem() as system:
        _, run = await spawn(system, catalog, tmp_path)
        await system.lookup("run").tell(Dispatch(step(catalog, digest="sha256:approved-earlier")))
        result = await run.next_result()
    assert result.status == "failed"
    assert result.failure is not None
    assert 'the playbook "write" changed since it was approved' in result.failure.error
    assert run.outputs == []
    assert not (tmp_path / "target").exists()


async def test_an_unknown_playbook_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    async with ActorSystem() as system:
        _, run = await spawn(system, catalog, tmp_path)
        await system.lookup("run").tell(Dispatch(step(catalog, playbook="../../etc/passwd")))
        result = await run.next_result()
    assert result.status == "failed"
    assert result.failure is not None
    assert result.failure.error == (
        'refused: unknown playbook "../../etc/passwd": the catalog has no such entry'
    )


async def test_a_variable_the_entry_does_not_declare_is_refused(
    catalog: Catalog, tmp_path: Path
) -> None:
    async with ActorSystem() as system:
        _, run = await spawn(system, catalog, tmp_path)
        execute = step(catalog, variables={"greeting": "hi", "ansible_connection": "ssh"})
        await system.lookup("run").tell(Dispatch(execute))
        result = await run.next_result()
    assert result.status == "failed"
    assert result.failure is not None
    assert 'does not declare the variable(s) "ansible_connection"' in result.failure.error
    assert not (tmp_path / "target").exists()


async def test_a_failing_playbook_is_a_failed_result_naming_host_task_and_error(
    catalog: Catalog, tmp_path: Path
) -> None:
    async with ActorSystem() as system:
        _, run = await spawn(system, catalog, tmp_path)
        execute = step(catalog, "leaky", variables={"api_token": "tok-123456", "fail": True})
        await system.lookup("run").tell(Dispatch(execute))
        result = await run.next_result()
    assert result.status == "failed"
    assert result.failure is not None
    assert (result.failure.host, result.failure.task) == ("box", "Fail, quoting the token")
    assert result.failure.error == "cannot use token ***"
    assert "PLAY RECAP" in result.failure.output_tail
    assert "tok-123456" not in result.model_dump_json()
    assert all("tok-123456" not in o.text for o in run.outputs)


class Redelivered(InMemoryJournal):
    """An inbox that already holds the ids of the StepExecute envelopes of some steps: the
    state a redelivery finds after the agent processed the first delivery."""

    def __init__(self, step_ids: set[uuid.UUID]) -> None:
        super().__init__()
        self.step_ids = step_ids

    async def append(self, envelope: Envelope, transitions: Sequence[Transition] = ()) -> None:
        await super().append(envelope, transitions)
        if isinstance(envelope.body, StepExecute) and envelope.body.step_id in self.step_ids:
            assert await self.mark_processed("infra:infra", envelope.id)


async def test_a_redelivered_step_is_ignored_not_run_twice(
    catalog: Catalog, tmp_path: Path
) -> None:
    duplicate = step(catalog, variables={"greeting": "twice"})
    fresh = step(catalog, variables={"greeting": "once"})
    journal = Redelivered({duplicate.step_id})
    async with ActorSystem(journal=journal) as system:
        _, run = await spawn(system, catalog, tmp_path, journal=journal)
        await system.lookup("run").tell(Dispatch(duplicate))
        await system.lookup("run").tell(Dispatch(fresh))
        result = await run.next_result()
    assert result.step_id == fresh.step_id
    assert [r.step_id for r in run.results] == [fresh.step_id]
    assert {o.step_id for o in run.outputs} == {fresh.step_id}
    assert (tmp_path / "target" / "box" / "greeting.txt").read_text() == "once\n"


async def test_a_preview_answers_the_check_mode_diff_and_changes_nothing(
    catalog: Catalog, tmp_path: Path
) -> None:
    async with ActorSystem() as system:
        infra, _ = await spawn(system, catalog, tmp_path)
        preview = StepPreview(playbook="write", hosts=("box",), variables={"greeting": "hey"})
        diff = await infra.ask(preview, timeout=60)
        assert "+hey\n" in diff.text
        assert not diff.refused
        assert not (tmp_path / "target" / "box").exists()
        refused = await infra.ask(StepPreview(playbook="nope", hosts=("box",)), timeout=60)
    assert refused.refused
    assert refused.text == 'no dry run: unknown playbook "nope": the catalog has no such entry'


async def test_preview_plan_gives_one_answer_per_step(catalog: Catalog, tmp_path: Path) -> None:
    (tmp_path / "target" / "box").mkdir(parents=True)
    (tmp_path / "target" / "box" / "greeting.txt").write_text("hello\n")
    plan = Plan(
        request="greet",
        steps=(
            PlanStep(playbook="write", hosts=("box",), variables={"greeting": "hello"}),
            PlanStep(playbook="write", hosts=("crate",), digest="sha256:stale"),
        ),
        planner="catalog",
        confidence=1.0,
    )
    async with ActorSystem() as system:
        infra, _ = await spawn(system, catalog, tmp_path)
        answers = await preview_plan(infra, plan, timeout=60)
    assert answers[0] == NO_CHANGES
    assert answers[1].startswith('no dry run: the playbook "write" changed since it was approved')
