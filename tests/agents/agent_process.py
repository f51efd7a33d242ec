"""An agent in a process of its own, to be killed mid-step: ``python agent_process.py CATALOG
ROOT STEP_JSON`` runs the StepExecute (as JSON) on an agent named desk-1 working under ROOT, and
prints ``running`` once the playbook waits; then it waits to be killed."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from chiffon.actors import ActorSystem, handler
from chiffon.actors.actor import Actor
from chiffon.agents.infra import ansible_agent
from chiffon.planning.catalog import load_catalog
from chiffon.protocol import StepExecute, StepOutput


class Sender(Actor):
    """Sends the step (so that it is the sender) and says when the playbook waits."""

    def __init__(self, agent: object, message: StepExecute) -> None:
        self.agent = agent
        self.message = message

    async def on_start(self) -> None:
        await self.agent.tell(self.message)  # type: ignore[attr-defined]

    @handler
    def output(self, message: StepOutput) -> None:
        if message.task == "Wait for a file that never comes":
            print("running", flush=True)


async def main(catalog_dir: str, root: str, step_json: str) -> None:
    catalog = load_catalog(catalog_dir)
    message = StepExecute.model_validate_json(step_json)
    async with ActorSystem() as system:
        agent = await system.spawn(
            lambda: ansible_agent(
                catalog, target_root=Path(root) / "target", work_dir=Path(root) / "work",
                output_cap=4096, name="desk-1",
            ),
            name="desk-1",
        )  # fmt: skip
        await system.spawn(Sender, agent, message)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:4])
