"""The shell-check executor: declared read-only probes run on the agent's machine in a worker
process, each observation an output line, the step failing on the first expectation that does
not hold; refusals for what it must not run; a preview that shows the facts as they are; and a
probe step planned, approved and run end to end by a ``System`` (its local shell-check agent).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from chiffon import System
from chiffon.actors import ActorSystem, LocalRef
from chiffon.agents.probes.declared import load_probes
from chiffon.agents.probes.errors import ProbesInvalid
from chiffon.agents.probes.executor import probe_agent
from chiffon.agents.routing import ListAgents
from chiffon.catalog import Catalog
from chiffon.protocol import StepPreview, StepPreviewResult
from chiffon.settings import Settings

from .conftest import CATALOG_DIR
from .standin import Dispatch, RunStandIn, step


async def spawn(system: ActorSystem, catalog: Catalog, root: Path) -> tuple[LocalRef, RunStandIn]:
    agent = await system.spawn(
        lambda: probe_agent(catalog, work_dir=root / "work", name="probe-1"), name="probe-1"
    )
    stand_in = RunStandIn(agent)
    await system.spawn(lambda: stand_in, name="run")
    return agent, stand_in


def room(catalog: Catalog, **variables: object) -> object:
    return step(catalog, "room", hosts=("localhost",), variables=variables)


async def test_probes_report_facts_and_the_step_fails_on_the_first_that_does_not_hold(
    catalog: Catalog, tmp_path: Path
) -> None:
    free_mb = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize // 2**20
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        async with ActorSystem() as system:
            _, run = await spawn(system, catalog, tmp_path)
            await system.lookup("run").tell(Dispatch(room(catalog, path=str(tmp_path))))
            fine = await run.next_result()
            fine_lines = [o for o in run.outputs if o.step_id == fine.step_id]
            too_much = room(catalog, path=str(tmp_path), min_free_mb=free_mb * 1000, port=port)
            await system.lookup("run").tell(Dispatch(too_much))
            short = await run.next_result()
    assert fine.status == "succeeded"
    assert fine.stats["localhost"].ok == 2
    assert [(o.event, o.task, o.status) for o in fine_lines] == [
        ("probes_start", None, "info"),
        ("probe_ok", f"disk {tmp_path}", "ok"),
        ("probe_ok", "port 1", "ok"),
    ]
    assert " MB free of " in fine_lines[1].text
    assert fine_lines[2].text == "port 1 is free"
    assert short.status == "failed"
    assert (short.stats["localhost"].ok, short.stats["localhost"].failed) == (0, 2)
    assert short.failure is not None
    assert short.failure.task == f"disk {tmp_path}"
    assert short.failure.error.endswith(f"less than the {free_mb * 1000} MB wanted")
    assert f"port {port} is listened on, not free" in short.failure.output_tail


async def test_what_a_shell_check_agent_must_not_run_is_refused_and_nothing_runs(
    catalog: Catalog, tmp_path: Path
) -> None:
    elsewhere = step(catalog, "room", hosts=("nas",), variables={"path": "/"})
    playbook = step(catalog, "write", hosts=("box",))
    undeclared = step(catalog, "room", hosts=("localhost",), variables={"command": "rm -rf /"})
    async with ActorSystem() as system:
        _, run = await spawn(system, catalog, tmp_path)
        for execute in (elsewhere, playbook, undeclared):
            await system.lookup("run").tell(Dispatch(execute))
        await run.until(lambda: len(run.results) == 3)
    errors = [r.failure.error if r.failure else None for r in run.results]
    assert errors == [
        "refused: this agent probes only its own machine (localhost), not nas",
        'refused: "write" is carried out by the ansible executor; this agent runs shell-check',
        'refused: playbook "room" does not declare the variable(s) "command"',
    ]
    assert run.outputs == []


async def test_a_preview_shows_the_facts_as_they_are_now(catalog: Catalog, tmp_path: Path) -> None:
    waits = StepPreview(
        playbook="arrival", hosts=("localhost",), variables={"file": str(tmp_path / "nothing")},
        digest=catalog.digest("arrival"),
    )  # fmt: skip
    async with ActorSystem() as system:
        agent, _ = await spawn(system, catalog, tmp_path)
        answer: StepPreviewResult = await agent.ask(waits, timeout=30)
    assert (
        answer.text
        == f"nothing changes; the probes see now:\n✗ {tmp_path}/nothing is absent, not present"
    )
    assert not answer.refused


def test_a_probe_file_that_declares_what_is_no_probe_is_refused_naming_the_problem(
    tmp_path: Path,
) -> None:
    shell = tmp_path / "shell.yml"
    shell.write_text("- probe: command\n  run: rm -rf /\n")
    unknown = tmp_path / "unknown.yml"
    unknown.write_text("- probe: disk\n  path: ${where}\n")
    typed = load_probes(
        CATALOG_DIR / "checks" / "room.yml", {"path": "/", "min_free_mb": 5, "port": 80}
    )
    with pytest.raises(ProbesInvalid, match=r"shell.yml is invalid: probe 1: Input tag 'command'"):
        load_probes(shell, {})
    with pytest.raises(ProbesInvalid, match=r"\$\{where\} names no declared variable"):
        load_probes(unknown, {})
    assert [p.title for p in typed] == ["disk /", "port 80"]
    assert typed[0].min_free_mb == 5  # type: ignore[union-attr]


@pytest.mark.postgres
async def test_a_probe_step_is_planned_approved_and_run_by_the_local_shell_check_agent(
    machine_dsn: str, tmp_path: Path
) -> None:
    settings = Settings.load(
        home=tmp_path / "home", database_url=machine_dsn, target_root=tmp_path / "target",
        audit_dir=tmp_path / "audit", log_level="warning",
    )  # fmt: skip
    async with System(settings, catalog=CATALOG_DIR) as system:
        finished = await system.run(
            "check that there is free disk space", approver=lambda plan: True
        )
        views = await system.domain.registry.ask(ListAgents())
        agents = {view.name: view for view in views}
    assert finished.status == "succeeded", finished.reason
    assert [(s.playbook, s.status) for s in finished.steps] == [("room", "succeeded")]
    assert agents["local-shell-check"].kind == "shell-check"
    assert {"shell-check", "host:localhost"} <= set(agents["local-shell-check"].capabilities)
    assert "shell-check" not in agents["local"].capabilities
