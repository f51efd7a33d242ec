"""``AttemptRunner``: the child actor that carries out one step attempt through the agent's
executor, so that the agent itself stays free to answer capacity and status questions while
it runs.

The agent spawns one per attempt and tells it ``RunAttempt``. Each output line goes to the
attempt's ``Recipient`` as it comes; the result goes back to the agent as ``AttemptFinished``
(the agent records it in its ledger and tells it). Every failure becomes a failed result: a
runner never raises, so nothing restarts it (a restart would run the step a second time).

The agent stops an attempt (superseded by a newer one, or cancelled) through its ``Halt``:
the runner's handler is busy running the step, so a message would wait behind it. The
executor's ``run`` is cancelled, which stops what it started (the executor's promise); the
runner then tells nothing, and the agent kills what is left and records the result.
"""

from __future__ import annotations

import dataclasses

import anyio
import structlog

from chiffon.actors import Actor, ActorRef, ActorStopped, MailboxFull, handler
from chiffon.agents.executor import Executor, failed
from chiffon.errors import ChiffonError
from chiffon.protocol import StepExecute, StepOutput, StepResult

log = structlog.get_logger("chiffon.agents")


@dataclasses.dataclass(slots=True)
class Recipient:
    """Who hears an attempt's output and result: the sender of its ``StepExecute``, or the
    last one to ask for its status (an orchestrator that restarted). Shared, in-process,
    between the agent and the attempt's runner."""

    ref: ActorRef | None


@dataclasses.dataclass(slots=True)
class Halt:
    """How the agent stops a running attempt, shared in-process with its runner (see the
    module docstring). ``result`` is the runner's own, when the step had ended before the
    halt reached it."""

    reason: str | None = None
    scope: anyio.CancelScope | None = None
    result: StepResult | None = None

    def __call__(self, reason: str) -> None:
        """Stop the attempt (the runner's handler then ends)."""
        self.reason = reason
        if self.scope is not None:
            self.scope.cancel()


@dataclasses.dataclass(frozen=True, slots=True)
class RunAttempt:
    """The agent's go to its runner. In-process only."""

    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class AttemptFinished:
    """A runner's outcome, back to its agent. In-process only."""

    result: StepResult
    durability = "transient"


class AttemptRunner(Actor):
    """Carries ``message`` out once, with ``executor``."""

    def __init__(
        self,
        executor: Executor,
        message: StepExecute,
        recipient: Recipient,
        halt: Halt | None = None,
    ) -> None:
        self.executor = executor
        self.message = message
        self.recipient = recipient
        self.halt = halt if halt is not None else Halt()
        self.unsent = 0

    @handler
    async def run(self, _: RunAttempt) -> None:
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
        message = self.message
        try:
            return await self.executor.run(message, self.forward)
        except ChiffonError as exc:
            return failed(message, str(exc))
        except Exception as exc:  # a bug here must still end the attempt with a result
            log.exception("step runner failed", step_id=str(message.step_id))
            return failed(message, f"the agent could not run the step: {exc!r}")

    def forward(self, output: StepOutput) -> None:
        recipient = self.recipient.ref
        if recipient is None:
            return
        # Output lines are best-effort (async durability): a full or gone mailbox, or a
        # broker that refuses the line, loses it; it never blocks or stops the step (an
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
