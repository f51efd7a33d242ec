"""The executor port: what one kind of agent does with an approved step, and nothing else.

The agent core (``chiffon.agents.core``) owns everything every agent needs — the ledger,
attempts and superseding, redelivery, capacity holds, status answers, presence — and hands an
executor only this:

- ``check(playbook, hosts, variables, digest)``: raise a ``ChiffonError`` saying why the step
  would be refused (nothing may run), or return. ``approved_entry`` does the part every
  catalog-driven executor shares.
- ``needs(playbook)``: what a step of that entry reserves while it runs.
- ``run(step, output)``: carry the attempt out and return its ``StepResult``; a step that ran
  and failed is a failed result, not an exception. ``output`` takes each ``StepOutput`` line
  (best effort: it never blocks, never raises). **Halting is cancelling** ``run``: the core
  cancels the attempt's scope, and the executor stops what it started before the
  cancellation leaves ``run`` (within a grace it documents).
- ``preview(step)``: the step's dry run, as a ``StepPreviewResult``.
- ``leftovers(step_id, attempt)``: kill whatever is still working on that attempt, found
  without the executor's memory (the attempt may have been started by a process that died);
  returns the pids killed. Blocking: the core calls it from a worker thread, after a halt and
  when it takes over an attempt a dead process left unfinished.
- ``hosts``: ``None`` for an executor that reaches inventory hosts itself (Ansible); else the
  host names of the machine it works on, which its agent declares as ``host:<name>``
  capabilities (see ``chiffon.agents.kinds``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from chiffon.agents.errors import DigestMismatch, UndeclaredVariable, UnknownPlaybook, WrongExecutor
from chiffon.catalog import Catalog, CatalogEntry
from chiffon.protocol import (
    Needs,
    StepExecute,
    StepFailure,
    StepOutput,
    StepPreview,
    StepPreviewResult,
    StepResult,
)

Output = Callable[[StepOutput], None]
"""Where an executor puts a running attempt's output lines."""

NO_CHANGES = "no changes"
"""A preview's answer when the dry run found nothing to change."""


class Executor(Protocol):
    """See the module docstring."""

    @property
    def name(self) -> str:
        """The executor's name: what catalog entries name, and the capability it gives."""
        ...

    @property
    def hosts(self) -> tuple[str, ...] | None: ...

    def check(
        self,
        playbook: str,
        hosts: Sequence[str],
        variables: Mapping[str, Any],
        digest: str | None,
    ) -> None: ...

    def needs(self, playbook: str) -> Needs: ...

    async def run(self, step: StepExecute, output: Output) -> StepResult: ...

    async def preview(self, step: StepPreview) -> StepPreviewResult: ...

    def leftovers(self, step_id: uuid.UUID, attempt: int) -> list[int]: ...


def approved_entry(
    catalog: Catalog,
    executor: str,
    playbook: str,
    variables: Mapping[str, Any],
    digest: str | None,
) -> CatalogEntry:
    """The catalog entry a step of ``playbook`` runs, once it is safe to: the entry exists
    (found by id, never by a path from a message), is carried out by ``executor``, declares
    every variable the step sets, and — with a ``digest`` — its files are what was approved.

    Raises ``UnknownPlaybook``, ``WrongExecutor``, ``UndeclaredVariable``, ``DigestMismatch``.
    """
    entry = catalog.entries.get(playbook)
    if entry is None:
        raise UnknownPlaybook(playbook)
    if entry.executor != executor:
        raise WrongExecutor(playbook, entry.executor, executor)
    undeclared = [name for name in variables if name not in entry.variables]
    if undeclared:
        raise UndeclaredVariable(playbook, undeclared)
    if digest is not None:
        current = catalog.digest(playbook)
        if current != digest:
            raise DigestMismatch(playbook, digest, current)
    return entry


def entry_needs(catalog: Catalog, playbook: str) -> Needs:
    """What a step of catalog entry ``playbook`` needs (nothing, for an unknown entry)."""
    entry = catalog.entries.get(playbook)
    return Needs() if entry is None else Needs(**entry.resources.model_dump())


def failed(message: StepExecute, error: str) -> StepResult:
    """A failed result for ``message`` saying ``error``."""
    return StepResult(
        run_id=message.run_id,
        step_id=message.step_id,
        attempt=message.attempt,
        status="failed",
        seconds=0.0,
        failure=StepFailure(error=error[:4000]),
    )


def interrupted(run_id: uuid.UUID, step_id: uuid.UUID, attempt: int, why: str) -> StepResult:
    """An interrupted result: the attempt was started and stopped before it finished."""
    return StepResult(
        run_id=run_id,
        step_id=step_id,
        attempt=attempt,
        status="interrupted",
        seconds=0.0,
        failure=StepFailure(error=why[:4000]),
    )


def capped(text: str, limit: int = 65536) -> str:
    """``text`` within a preview's limit, its end kept."""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]
