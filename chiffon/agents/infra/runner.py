"""``StepRunner``: the child actor that runs one step attempt's playbook, so that the agent
itself stays free to answer capacity and status questions while it runs.

The agent spawns one per attempt and tells it ``RunStep``. Each Ansible event goes to the
attempt's ``Recipient`` as a ``StepOutput``; the outcome goes back to the agent as
``AttemptFinished`` (the agent records it in its ledger and tells the result). Every failure
becomes a failed result: a runner never raises, so nothing restarts it (a restart would run
the playbook a second time).

The agent stops an attempt (superseded by a newer one, or cancelled) through its ``Halt``:
the runner's handler is busy running the playbook, so a message would wait behind it. The
playbook's run is cancelled, which stops ansible-playbook and kills what works in the
attempt's directory; the runner then tells nothing, and the agent records the result.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import anyio
import structlog

from chiffon.actors import Actor, ActorRef, ActorStopped, MailboxFull, handler
from chiffon.agents.infra.ansible import run_playbook
from chiffon.agents.infra.errors import InfraError
from chiffon.agents.infra.events import PlaybookEvent, PlaybookOutcome
from chiffon.agents.infra.processes import attempt_dir_name
from chiffon.catalog import Catalog
from chiffon.protocol import StepExecute, StepFailure, StepOutput, StepResult

log = structlog.get_logger("chiffon.agents")


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


@dataclasses.dataclass(slots=True)
class Recipient:
    """Who hears an attempt's output and result: the sender of its ``StepExecute``, or the
    last one to ask for its status (an orchestrator that restarted). Shared, in-process,
    between the agent and the attempt's runner."""

    ref: ActorRef | None


@dataclasses.dataclass(slots=True)
class Halt:
    """How the agent stops a running attempt, shared in-process with its runner (see the
    module docstring). ``result`` is the runner's own, when the playbook had ended before the
    halt reached it."""

    reason: str | None = None
    scope: anyio.CancelScope | None = None
    result: StepResult | None = None

    def __call__(self, reason: str) -> None:
        """Stop the attempt's playbook (the runner's handler then ends)."""
        self.reason = reason
        if self.scope is not None:
            self.scope.cancel()


@dataclasses.dataclass(frozen=True, slots=True)
class RunStep:
    """The agent's go to its runner. In-process only."""

    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class AttemptFinished:
    """A runner's outcome, back to its agent. In-process only."""

    result: StepResult
    durability = "transient"


class StepRunner(Actor):
    """Runs ``message``'s playbook once, in ``workshop``."""

    def __init__(
        self,
        workshop: Workshop,
        message: StepExecute,
        recipient: Recipient,
        halt: Halt | None = None,
    ) -> None:
        self.workshop = workshop
        self.message = message
        self.recipient = recipient
        self.halt = halt if halt is not None else Halt()
        self.unsent = 0

    @handler
    async def run(self, _: RunStep) -> None:
        halt = self.halt
        if halt.reason is None:  # halted before it began: nothing to run, nothing to stop
            with anyio.CancelScope() as scope:
                halt.scope = scope
                halt.result = await self.attempt()
        if halt.reason is not None:
            return  # halted: the agent records and tells the result
        parent = self.context.parent
        assert parent is not None
        assert halt.result is not None
        await parent.tell(AttemptFinished(halt.result))

    async def attempt(self) -> StepResult:
        message, workshop = self.message, self.workshop
        try:
            outcome = await run_playbook(
                workshop.catalog,
                message.playbook,
                message.hosts,
                message.variables,
                target_root=workshop.target_root,
                work_dir=workshop.attempt_dir(message),
                on_event=self.forward,
                output_cap=workshop.output_cap,
            )
        except InfraError as exc:
            return failed(message, str(exc))
        except Exception as exc:  # a bug here must still end the attempt with a result
            log.exception("step runner failed", step_id=str(message.step_id))
            return failed(message, f"the agent could not run the step: {exc!r}")
        return outcome_result(message, outcome)

    def forward(self, event: PlaybookEvent) -> None:
        recipient = self.recipient.ref
        if recipient is None:
            return
        output = StepOutput(
            run_id=self.message.run_id,
            step_id=self.message.step_id,
            seq=event.seq,
            event=event.event,
            host=event.host,
            task=event.task,
            status=event.status,
            text=event.text,
        )
        # Output lines are best-effort (async durability): a full or gone mailbox, or a
        # broker that refuses the line, loses it; it never blocks or stops the playbook (an
        # exception here would cancel it). The result and its output tail still arrive.
        try:
            recipient.tell_nowait(output)
        except (MailboxFull, ActorStopped):
            pass
        except Exception as exc:
            if not self.unsent:
                log.warning("output lines not delivered", step_id=str(self.message.step_id),
                            error=str(exc) or repr(exc))  # fmt: skip
            self.unsent += 1


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


def interrupted(run_id: Any, step_id: Any, attempt: int, why: str) -> StepResult:
    """An interrupted result: the attempt was started and stopped before it finished."""
    return StepResult(
        run_id=run_id,
        step_id=step_id,
        attempt=attempt,
        status="interrupted",
        seconds=0.0,
        failure=StepFailure(error=why[:4000]),
    )


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
    )
