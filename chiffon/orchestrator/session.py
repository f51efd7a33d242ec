"""``Session``: the requester's side of a run, as an actor.

It receives the run's ``PlanProposed`` (journaled), asks its ``Approver``, and answers the
run with a journaled ``PlanDecision`` carrying the session's own approver name and channel;
it resolves a future with the ``RunFinished`` that ends the run. One session per submitted
request.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from chiffon.actors import Actor, ActorRef, handler
from chiffon.orchestrator.approval import Approver
from chiffon.protocol import PlanDecision, PlanProposed, RunFinished
from chiffon.protocol.messages import ApprovalChannel


@dataclasses.dataclass(frozen=True, slots=True)
class Submit:
    """Internal: have the session send ``message`` (a ``RunRequested`` or ``ResumeRun``) to
    the orchestrator, so that the run knows the session as its requester."""

    orchestrator: ActorRef
    message: Any
    durability = "transient"


class Session(Actor):
    """Answers plan proposals with its approver; hands the run's end to ``finished``."""

    def __init__(
        self,
        approver: Approver,
        *,
        approver_name: str,
        channel: ApprovalChannel,
        finished: asyncio.Future[RunFinished],
    ) -> None:
        self.approver = approver
        self.approver_name = approver_name
        self.channel = channel
        self.finished = finished

    @handler(Submit)
    async def on_submit(self, submit: Submit) -> None:
        try:
            answer = await submit.orchestrator.ask(submit.message, timeout=120.0)
        except Exception as exc:
            answer = exc
        if isinstance(answer, BaseException):  # refused: the run never started
            if not self.finished.done():
                self.finished.set_exception(answer)
            self.context.stop()

    @handler(PlanProposed)
    async def on_proposal(self, proposal: PlanProposed) -> None:
        sender = self.context.sender
        if sender is None:
            return
        verdict = await self.approver.decide(proposal)
        if verdict is None:  # no answer (the proposal expired at the prompt): the run decides
            return
        await sender.tell(
            PlanDecision(
                run_id=proposal.run_id,
                plan_hash=proposal.plan_hash,
                decision=verdict.decision,
                approver=self.approver_name,
                channel=self.channel,
                feedback=verdict.feedback,
            )
        )

    @handler(RunFinished)
    async def on_finished(self, message: RunFinished) -> None:
        if not self.finished.done():
            self.finished.set_result(message)
        self.context.stop()

    async def on_stop(self) -> None:
        if not self.finished.done():
            self.finished.cancel()

    def __repr__(self) -> str:
        return f"<Session {self.approver_name} via {self.channel}>"
