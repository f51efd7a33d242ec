"""``AnsibleExecutor``: the executor of the ``infra`` and ``desktop`` kinds — catalog
playbooks run with ansible-playbook (see the port, ``chiffon.agents.executor``).

- ``run``: the playbook, its events as output lines (``runner.run_step``); cancelled, it stops
  ansible-playbook within ``CANCEL_GRACE_S`` and kills what works in the attempt's directory.
- ``preview``: ``--check --diff`` in a directory of its own; the diff, ``no changes``, or why
  the dry run failed.
- ``leftovers``: ansible-playbook's forked workers and their modules run in sessions of their
  own, so they outlive a killed agent; they all name the attempt's work directory on their
  command lines, which is how they are found and killed (``processes``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chiffon.agents.core import Agent
from chiffon.agents.executor import (
    NO_CHANGES,
    Output,
    approved_entry,
    capped,
    entry_needs,
)
from chiffon.agents.infra.ansible import playbook_variables, run_playbook
from chiffon.agents.infra.processes import attempt_marker, kill_processes_naming
from chiffon.agents.infra.runner import Workshop, run_step
from chiffon.catalog import Catalog
from chiffon.protocol import (
    Needs,
    StepExecute,
    StepFailure,
    StepPreview,
    StepPreviewResult,
    StepResult,
)


class AnsibleExecutor:
    """Runs ``catalog``'s playbooks: localhost targets write under ``target_root``, each
    attempt works in a directory of its own under ``work_dir``, ``output_cap`` bounds the
    output kept per step."""

    name = "ansible"
    hosts = None  # it reaches the inventory's hosts itself

    def __init__(
        self, catalog: Catalog, *, target_root: Path, work_dir: Path, output_cap: int
    ) -> None:
        self.catalog = catalog
        self.workshop = Workshop(catalog, target_root, work_dir, output_cap)

    def check(
        self,
        playbook: str,
        hosts: Sequence[str],
        variables: Mapping[str, Any],
        digest: str | None,
    ) -> None:
        approved_entry(self.catalog, self.name, playbook, variables, digest)
        playbook_variables(self.catalog, playbook, variables)

    def needs(self, playbook: str) -> Needs:
        return entry_needs(self.catalog, playbook)

    async def run(self, step: StepExecute, output: Output) -> StepResult:
        return await run_step(self.workshop, step, output)

    async def preview(self, step: StepPreview) -> StepPreviewResult:
        workshop = self.workshop
        outcome = await run_playbook(
            workshop.catalog,
            step.playbook,
            step.hosts,
            step.variables,
            target_root=workshop.target_root,
            work_dir=workshop.work_dir / "preview" / uuid.uuid4().hex,
            check=True,
            output_cap=workshop.output_cap,
        )
        if outcome.status == "failed":
            failure = outcome.failure
            where = "" if failure is None else _where(failure)
            error = "" if failure is None else f": {failure.error}"
            return StepPreviewResult(text=capped(f"the dry run failed{where}{error}"))
        return StepPreviewResult(text=capped(outcome.diff or NO_CHANGES))

    def leftovers(self, step_id: uuid.UUID, attempt: int) -> list[int]:
        return kill_processes_naming(attempt_marker(step_id, attempt))


def _where(failure: StepFailure) -> str:
    parts = []
    if failure.host:
        parts.append(f"host {failure.host}")
    if failure.task:
        parts.append(f'task "{failure.task}"')
    return f" ({', '.join(parts)})" if parts else ""


def ansible_agent(
    catalog: Catalog,
    *,
    target_root: Path,
    work_dir: Path,
    output_cap: int,
    state_dir: Path | None = None,
    **core: Any,
) -> Agent:
    """An agent running ``catalog``'s playbooks (``AnsibleExecutor``); its ledger in
    ``state_dir`` (default ``work_dir``); ``core``: the rest of ``Agent``'s arguments
    (``name``, ``kind``, ``registry``, ``sampler``, …)."""
    executor = AnsibleExecutor(
        catalog, target_root=target_root, work_dir=work_dir, output_cap=output_cap
    )
    return Agent(executor, state_dir=state_dir or work_dir, **core)
