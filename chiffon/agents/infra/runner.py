"""One step attempt's playbook run, for the Ansible executor: where it runs (``Workshop``),
its events forwarded as ``StepOutput`` lines, and its outcome as the attempt's ``StepResult``.

The agent core runs this in the attempt's own child actor (``chiffon.agents.attempts``) and
halts it by cancelling it: ``run_playbook`` then stops ansible-playbook and kills what works
in the attempt's directory before the cancellation leaves here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from chiffon.agents.executor import Output
from chiffon.agents.infra.ansible import run_playbook
from chiffon.agents.infra.events import PlaybookEvent, PlaybookOutcome
from chiffon.agents.infra.processes import attempt_dir_name
from chiffon.catalog import Catalog
from chiffon.protocol import StepExecute, StepOutput, StepResult


@dataclasses.dataclass(frozen=True, slots=True)
class Workshop:
    """Where an agent's playbooks run: its catalog, the target root localhost targets write
    under, the directory holding each attempt's work directory, the output kept per step."""

    catalog: Catalog
    target_root: Path
    work_dir: Path
    output_cap: int

    def attempt_dir(self, message: StepExecute) -> Path:
        # The name is what leftover processes are found by (processes.py).
        return self.work_dir / attempt_dir_name(message.step_id, message.attempt)


async def run_step(workshop: Workshop, message: StepExecute, output: Output) -> StepResult:
    """Run ``message``'s playbook once, each event told to ``output``. Raises what
    ``run_playbook`` raises before anything runs."""

    def forward(event: PlaybookEvent) -> None:
        output(
            StepOutput(
                run_id=message.run_id,
                step_id=message.step_id,
                seq=event.seq,
                event=event.event,
                host=event.host,
                task=event.task,
                status=event.status,
                text=event.text,
            )
        )

    outcome = await run_playbook(
        workshop.catalog,
        message.playbook,
        message.hosts,
        message.variables,
        target_root=workshop.target_root,
        work_dir=workshop.attempt_dir(message),
        on_event=forward,
        output_cap=workshop.output_cap,
    )
    return outcome_result(message, outcome)


def outcome_result(message: StepExecute, outcome: PlaybookOutcome) -> StepResult:
    """The result of a playbook that ran."""
    return StepResult(
        run_id=message.run_id,
        step_id=message.step_id,
        attempt=message.attempt,
        status=outcome.status,
        stats=outcome.stats,
        seconds=outcome.seconds,
        failure=outcome.failure,
        left_for_you=outcome.left_for_you,
    )
