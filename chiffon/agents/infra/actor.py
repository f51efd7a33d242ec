"""``InfraAgent``: the actor that runs approved catalog playbooks and previews them.

It takes two messages:

- ``StepExecute`` (from the orchestrator's run actor): refused with a failed ``StepResult``
  when the playbook id is unknown, its files no longer match the approved digest, or a
  variable is not declared by the entry; otherwise the playbook runs, each event goes back to
  the sender as a ``StepOutput``, then one ``StepResult``.
- ``PreviewStep`` (asked while a plan awaits approval): the check-mode diff of one step, or a
  sentence saying why there is none.

Redelivery: with a journal, the agent records each ``StepExecute`` envelope id as processed
before running it, and *ignores* an envelope it has already processed — it neither runs the
playbook again nor answers. A redelivered command means the first delivery is running or
ran; its result comes from that delivery, and a step whose process died mid-run is the
orchestrator's to reconcile (DESIGN.md: never re-run without a new attempt record, which
arrives as a new envelope).
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chiffon.actors import Actor, ActorRef, ActorStopped, Journal, MailboxFull, handler
from chiffon.agents.infra.ansible import playbook_variables, run_playbook
from chiffon.agents.infra.errors import DigestMismatch, InfraError, UnknownPlaybook
from chiffon.agents.infra.events import PlaybookEvent, PlaybookOutcome
from chiffon.planning.catalog import Catalog
from chiffon.protocol import Plan, StepExecute, StepFailure, StepOutput, StepResult
from chiffon.protocol.plan import VariableValue

NO_CHANGES = "no changes"
"""A preview's answer when check mode found nothing to change."""


@dataclasses.dataclass(frozen=True, slots=True)
class PreviewStep:
    """Ask the infra agent for a step's dry run (``--check --diff``); the answer is a str.

    ``digest``, when given, must match the playbook's files (as for ``StepExecute``).
    """

    playbook: str
    hosts: tuple[str, ...]
    variables: dict[str, VariableValue] = dataclasses.field(default_factory=dict)
    digest: str | None = None


class InfraAgent(Actor):
    """Runs catalog playbooks for the orchestrator, on this machine.

    ``target_root`` is where localhost targets write (``chiffon_target_root``); each step runs
    in its own directory under ``work_dir``; ``output_cap`` bounds the output kept per step.
    ``journal``, when given, de-duplicates redelivered ``StepExecute`` envelopes.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        target_root: Path,
        work_dir: Path,
        output_cap: int,
        journal: Journal | None = None,
        name: str = "infra",
    ) -> None:
        self.catalog = catalog
        self.target_root = target_root
        self.work_dir = work_dir
        self.output_cap = output_cap
        self.journal = journal
        self.name = name

    @handler
    async def execute(self, message: StepExecute) -> StepResult | None:
        """Run one approved step; the result is told to the sender and returned to an asker.

        Returns ``None`` for a redelivered envelope (see the module docstring).
        """
        envelope = self.context.envelope
        sender = self.context.sender
        if (
            self.journal is not None
            and envelope is not None
            and not await self.journal.mark_processed(f"infra:{self.name}", envelope.id)
        ):
            return None
        asked = envelope is not None and envelope.reply is not None
        try:
            self._check(message.playbook, message.variables, message.digest)
        except InfraError as exc:
            result = _failed(message, f"refused: {exc}")
        else:
            try:
                outcome = await run_playbook(
                    self.catalog,
                    message.playbook,
                    message.hosts,
                    message.variables,
                    target_root=self.target_root,
                    work_dir=self.work_dir / f"{message.step_id}-{message.attempt}",
                    on_event=None if sender is None else _forwarder(sender, message),
                    output_cap=self.output_cap,
                )
            except InfraError as exc:
                result = _failed(message, str(exc))
            else:
                result = _result(message, outcome)
        if sender is not None and not asked:
            # A run actor that is gone has nothing to hear; the orchestrator reconciles the step.
            with contextlib.suppress(ActorStopped):
                await sender.tell(result)
        return result

    @handler
    async def preview(self, message: PreviewStep) -> str:
        """The step's check-mode diff, ``"no changes"``, or why the dry run failed.

        Raises (to the asker) ``UnknownPlaybook``, ``DigestMismatch`` or
        ``UndeclaredVariable`` when the step would be refused.
        """
        self._check(message.playbook, message.variables, message.digest)
        outcome = await run_playbook(
            self.catalog,
            message.playbook,
            message.hosts,
            message.variables,
            target_root=self.target_root,
            work_dir=self.work_dir / "preview" / uuid.uuid4().hex,
            check=True,
            output_cap=self.output_cap,
        )
        if outcome.status == "failed":
            failure = outcome.failure
            where = "" if failure is None else _where(failure)
            error = "" if failure is None else f": {failure.error}"
            return f"the dry run failed{where}{error}"
        return outcome.diff or NO_CHANGES

    def _check(self, playbook: str, variables: Mapping[str, Any], digest: str | None) -> None:
        if playbook not in self.catalog.entries:
            raise UnknownPlaybook(playbook)
        playbook_variables(self.catalog, playbook, variables)
        if digest is not None:
            current = self.catalog.digest(playbook)
            if current != digest:
                raise DigestMismatch(playbook, digest, current)


async def preview_plan(infra: ActorRef, plan: Plan, *, timeout: float = 300.0) -> tuple[str, ...]:
    """Each step's dry run, in order, asked of ``infra`` (an ``InfraAgent``): what
    ``PlanProposed.dry_run`` holds. A step the agent refuses gets the reason instead.

    Raises ``AskTimeout`` when one step's dry run takes longer than ``timeout`` seconds.
    """
    answers: list[str] = []
    for step in plan.steps:
        ask = PreviewStep(step.playbook, step.hosts, dict(step.variables), step.digest or None)
        try:
            answers.append(await infra.ask(ask, timeout=timeout))
        except InfraError as exc:
            answers.append(f"no dry run: {exc}")
    return tuple(answers)


def _forwarder(sender: ActorRef, message: StepExecute) -> Any:
    def forward(event: PlaybookEvent) -> None:
        output = StepOutput(
            run_id=message.run_id,
            step_id=message.step_id,
            seq=event.seq,
            event=event.event,
            host=event.host,
            task=event.task,
            status=event.status,
            text=event.text,
        )
        # Output lines are best-effort (async durability): a full or gone mailbox loses a
        # line, never blocks the run; the result and its output tail still arrive.
        with contextlib.suppress(MailboxFull, ActorStopped):
            sender.tell_nowait(output)

    return forward


def _where(failure: StepFailure) -> str:
    parts = []
    if failure.host:
        parts.append(f"host {failure.host}")
    if failure.task:
        parts.append(f'task "{failure.task}"')
    return f" ({', '.join(parts)})" if parts else ""


def _failed(message: StepExecute, error: str) -> StepResult:
    return StepResult(
        run_id=message.run_id,
        step_id=message.step_id,
        attempt=message.attempt,
        status="failed",
        seconds=0.0,
        failure=StepFailure(error=error[:4000]),
    )


def _result(message: StepExecute, outcome: PlaybookOutcome) -> StepResult:
    return StepResult(
        run_id=message.run_id,
        step_id=message.step_id,
        attempt=message.attempt,
        status=outcome.status,
        stats=outcome.stats,
        seconds=outcome.seconds,
        failure=outcome.failure,
    )
