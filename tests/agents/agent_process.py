"""An agent in a process of its own, to be killed mid-step: ``python -m
tests.agents.agent_process CATALOG ROOT STEP_JSON FLAVOUR`` (from the repository's root) runs
the StepExecute (as JSON) on an agent named desk-1 of that flavour (``executors.py``) working
under ROOT, and prints ``running`` once the step waits; then it waits to be killed."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from chiffon.actors import ActorSystem, handler
from chiffon.actors.actor import Actor
from chiffon.catalog import load_catalog
from chiffon.protocol import StepExecute, StepOutput
from tests.agents.executors import FLAVOURS


class Sender(Actor):
    """Sends the step (so that it is the sender) and says when the playbook waits."""

    def __init__(self, agent: object, message: StepExecute) -> None:
        self.agent = agent
        self.message = message

    async def on_start(self) -> None:
        await self.agent.tell(self.message)  # type: ignore[attr-defined]

    @handler
    def output(self, message: StepOutput) -> None:
        if message.task == "Wait for a file that never comes" or message.event == "probe_waiting":
            print("running", flush=True)


async def main(catalog_dir: str, root: str, step_json: str, flavour_name: str) -> None:
    catalog = load_catalog(catalog_dir)
    message = StepExecute.model_validate_json(step_json)
    flavour = next(f for f in FLAVOURS if f.name == flavour_name)
    async with ActorSystem() as system:
        agent = await system.spawn(
            lambda: flavour.build(catalog, Path(root), name="desk-1"), name="desk-1"
        )
        await system.spawn(Sender, agent, message)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
