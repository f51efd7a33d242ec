"""An agent killed with SIGKILL mid-step, then started again on the same state directory — with
each executor: the attempt it had started is reported interrupted (to a status question and to
a redelivery), what was left of it (Ansible's workers, the probe worker) is killed, and nothing
runs a second time."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from anyio.streams.text import TextReceiveStream

from chiffon.actors import ActorSystem
from chiffon.agents.infra.processes import processes_naming
from chiffon.catalog import Catalog
from chiffon.protocol import StepStatusQuery, StepStatusReport

from .conftest import CATALOG_DIR
from .executors import Flavour
from .standin import Dispatch, RunStandIn

REPO = Path(__file__).parents[2]  # where ``-m tests.agents.agent_process`` is found


async def test_an_attempt_started_before_a_crash_is_reported_interrupted_and_never_rerun(
    catalog: Catalog, tmp_path: Path, flavour: Flavour
) -> None:
    execute = flavour.slow(catalog, tmp_path)
    command = [sys.executable, "-m", "tests.agents.agent_process", str(CATALOG_DIR), str(tmp_path)]
    arguments = [execute.model_dump_json(), flavour.name]
    async with await anyio.open_process([*command, *arguments], cwd=REPO) as child:
        assert child.stdout is not None
        with anyio.fail_after(60):
            said = ""
            async for chunk in TextReceiveStream(child.stdout):
                said += chunk
                if "running\n" in said:
                    break
        child.kill()
        await child.wait()
    assert processes_naming(str(execute.step_id)), "the step's processes died with the agent"

    async with ActorSystem() as system:
        infra = await system.spawn(
            lambda: flavour.build(catalog, tmp_path, name="desk-1"), name="desk-1"
        )
        leftovers = processes_naming(str(execute.step_id))
        report: StepStatusReport = await infra.ask(
            StepStatusQuery(run_id=execute.run_id, step_id=execute.step_id, attempt=1)
        )
        run = RunStandIn(infra)
        await system.spawn(lambda: run, name="run")
        await system.lookup("run").tell(Dispatch(execute))  # the command, redelivered
        redelivered = await run.next_result()
    assert leftovers == [], "the restarted agent left the killed attempt's processes running"
    assert report.state == "finished"
    assert report.result is not None
    assert report.result.status == "interrupted"
    assert report.result.failure is not None
    assert "the agent desk-1 stopped while it ran this attempt" in report.result.failure.error
    assert redelivered == report.result
    assert run.outputs == [], "the redelivered attempt ran again"
    assert not (tmp_path / "target" / "box" / "waited.txt").exists()
