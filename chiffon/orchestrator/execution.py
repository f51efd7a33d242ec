"""The execution half of a run: approved steps sent to agents, one at a time, through the
agents' registry, and what comes back.

- Each attempt is routed: the registry picks an agent with the capabilities and the capacity
  the catalog entry's ``resources`` ask for, asks it, and answers. The step is dispatched to
  that agent (``steps.agent`` names it).
- No agent can take it: the run goes ``paused`` with the reason and waits; the registry tells
  it when capacity may have appeared, and it goes back to ``running`` once an agent accepts.
  Paused longer than ``capacity_wait_s``: the run fails, saying what it waited for.
- The agent is lost (missed heartbeats, goodbye) or reports the attempt ``interrupted`` (it
  restarted): the attempt is ``interrupted`` with the reason and a *new* attempt is routed,
  up to ``step_max_attempts``; never the same attempt again. A lost agent may only be cut
  off, its playbook still running: it is told ``StepCancel`` for the attempt (through the
  registry, before the new attempt is routed), so that it stops it when it comes back, and
  never runs it beside the new one.
- A status report (asked by a resumed run, or by the registry of a restarted agent) settles
  the attempt: its result, ``interrupted`` when the agent does not know it, or nothing while it
  still runs (its result comes here).

``Execution`` is a part the ``RunActor`` (``chiffon.orchestrator.run``) holds, beside what it
does itself (plan, ask for approval, resume, end the run): the actor's handlers hand it what
comes back, and it ends the run through the actor's ``finish``. Both share one
``RunProgress``. Its waits are the actor's runtime timers (``send_after``), keyed by what
they wait for: cancelling one withdraws its message, and they all end with the actor.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Hashable
from typing import Any, Protocol

import structlog

from chiffon.actors import ActorRef
from chiffon.agents.capacity import requirement
from chiffon.agents.routing import (
    AgentLost,
    CancelStep,
    CapacityAvailable,
    NoCapacity,
    QueryStep,
    Route,
    StepSettled,
)
from chiffon.orchestrator.errors import DispatchRefused
from chiffon.orchestrator.progress import RunProgress
from chiffon.orchestrator.services import RunServices
from chiffon.orchestrator.states import STEP_TERMINAL
from chiffon.orchestrator.store import StepRecord
from chiffon.protocol import (
    StepCancel,
    StepExecute,
    StepFailure,
    StepOutput,
    StepResult,
    StepStatusQuery,
    StepStatusReport,
)
from chiffon.protocol.messages import RunOutcome

log = structlog.get_logger("chiffon.run")

IN_FLIGHT = ("dispatched", "running")


@dataclasses.dataclass(frozen=True, slots=True)
class WaitTimer:
    """The run's own timer: a wait (for capacity, or for an agent's answer) is over. Not
    journaled (a cancelled timer's message is withdrawn unhandled): its handler tells the run
    a journaled ``WaitOver``, which is what changes its state. ``armed`` is when the wait
    began (monotonic)."""

    step_id: uuid.UUID
    what: str
    armed: float
    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class WaitOver:
    """A wait of the run's ended without what it waited for: ``what`` is ``capacity`` or
    ``status``. Journaled: the run fails, or interrupts the attempt, on it."""

    step_id: uuid.UUID
    what: str
    waited_s: float
    durability = "sync"


class Timers(Protocol):
    """The run actor's timers (its ``ActorContext``): cancelled when it stops."""

    def send_after(self, delay: float, message: Any, *, key: Hashable | None = None) -> None: ...

    def cancel_timer(self, key: Hashable) -> bool: ...


class Finish(Protocol):
    """The run actor's ``finish``: the run ends ``status``."""

    async def __call__(
        self, status: RunOutcome, cause: uuid.UUID | None, *, reason: str | None = None
    ) -> None: ...


class Execution:
    """Step dispatch and outcomes for one run; see the module docstring. Its run actor hands
    it what comes back (each method names the message it takes) with the id of the journaled
    message that caused it."""

    def __init__(
        self, run: RunProgress, services: RunServices, timers: Timers, finish: Finish
    ) -> None:
        self.run = run
        self.s = services
        self.timers = timers
        self.finish = finish
        self.output_seen: set[uuid.UUID] = set()
        self.pause_reason: str | None = None
        self.awaiting: uuid.UUID | None = None
        """The attempt a resumed run asked its agent about."""

    # -- dispatch --------------------------------------------------------------------------

    async def create_steps(self, cause: uuid.UUID) -> None:
        """A pending attempt for each step of the approved plan still to run. A fresh run gets
        first attempts. A resumed one keeps what succeeded on this plan, what is pending
        under this approval, and an attempt an agent still runs; every other position gets a
        new attempt (the next number, never one in use), whatever its last attempt was:
        interrupted, or skipped when the approval it waited under expired."""
        run = self.run
        plan, digest, approval = run.approved()
        latest = {step.position: step for step in run.steps}

        def settled(step: StepRecord) -> bool:
            return step.plan_hash == digest and (
                step.status in ("succeeded", *IN_FLIGHT)
                or (step.status == "pending" and step.approval_id == approval.id)
            )

        wanted = [
            (position, latest[position].attempt + 1 if position in latest else 1, step)
            for position, step in enumerate(plan.steps)
            if position not in latest or not settled(latest[position])
        ]
        created = await self.s.store.create_steps(
            run.run_id, wanted, plan_hash=digest, approval_id=approval.id, message_id=cause
        )
        by_position = {p: s for p, s in latest.items() if p < len(plan.steps)}
        by_position.update({step.position: step for step in created})
        run.steps = [by_position[p] for p in sorted(by_position)]

    async def dispatch_next(self, cause: uuid.UUID) -> None:
        """Route and send the next pending attempt; finish when none is left. One step at a
        time: nothing goes while an attempt is out."""
        run = self.run
        if any(s.status in IN_FLIGHT for s in run.steps):
            return
        pending = next((s for s in run.steps if s.status == "pending"), None)
        if pending is None:
            await self.finish("succeeded", cause)
            return
        wanted = requirement(self.s.catalog, pending.playbook, pending.hosts)
        route = Route(run.run_id, pending.id, pending.attempt, wanted.needs, wanted.capabilities)
        answer = await self.s.registry.ask(route, timeout=self.s.route_timeout_s)
        if isinstance(answer, NoCapacity):
            await self.pause(pending, answer.reason, cause)
            return
        _, digest, approval = run.approved()
        if run.status == "paused":
            self.cancel_wait("capacity")
            await run.move("running", cause, reason=f"{answer.agent} has the capacity for "
                           f"step {pending.position + 1} ({pending.playbook})")  # fmt: skip
            await run.publish("run.resumed", {"agent": answer.agent})
        try:
            await self.s.store.transition_step(
                pending.id, "pending", "dispatched", message_id=cause, agent=answer.agent
            )
        except DispatchRefused as exc:
            await self.settle(pending)
            await self.skip_pending(cause, f"not dispatched: {exc}")
            await self.finish("failed", cause, reason=f"the database refused to dispatch: {exc}")
            return
        step = run.replace(pending, status="dispatched", agent=answer.agent)
        await run.publish(
            "step.started",
            {
                "step_id": str(step.id), "position": step.position, "attempt": step.attempt,
                "playbook": step.playbook, "hosts": list(step.hosts), "total": len(run.steps),
                "agent": answer.agent,
            },
        )  # fmt: skip
        agent: ActorRef = answer.ref
        await agent.tell(
            StepExecute(
                run_id=run.run_id, step_id=step.id, attempt=step.attempt,
                position=step.position, playbook=step.playbook, digest=step.digest,
                hosts=step.hosts, variables=step.variables, approval_id=approval.id,
                plan_hash=digest,
            )
        )  # fmt: skip

    # -- waiting: for capacity, for an agent's word ----------------------------------------

    async def pause(self, step: StepRecord, reason: str, cause: uuid.UUID) -> None:
        """No agent can take ``step`` now: wait (the registry tells the run when to retry)."""
        run = self.run
        self.pause_reason = reason
        if run.status == "paused":
            return  # still waiting, on the clock started when the run paused
        await run.move(
            "paused", cause,
            reason=f"waiting for capacity for step {step.position + 1} ({step.playbook}): {reason}",
        )  # fmt: skip
        self.arm_wait(step.id, "capacity", self.s.capacity_wait_s)
        await run.publish("run.paused", {"reason": reason, "wait_s": self.s.capacity_wait_s})
        log.info("run paused", run_id=str(run.run_id), reason=reason)

    async def capacity_available(self, message: CapacityAvailable, cause: uuid.UUID) -> None:
        if self.run.status == "paused":
            await self.dispatch_next(cause)

    async def ask_agent(self, step: StepRecord) -> None:
        """Ask the agent that has ``step`` (a resumed run's attempt) what became of it. The
        answer (``status_report``), or the wait running out (``wait_over``), settles it."""
        assert step.agent is not None
        self.awaiting = step.id
        query = StepStatusQuery(run_id=self.run.run_id, step_id=step.id, attempt=step.attempt)
        wait = self.s.agent_status_wait_s
        await self.s.registry.tell(QueryStep(step.agent, query, wait))
        self.arm_wait(step.id, "status", wait)

    def arm_wait(self, step_id: uuid.UUID, what: str, seconds: float) -> None:
        self.timers.send_after(
            seconds, WaitTimer(step_id, what, time.monotonic()), key=("wait", what)
        )

    def cancel_wait(self, what: str) -> None:
        self.timers.cancel_timer(("wait", what))

    async def wait_over(self, message: WaitOver, cause: uuid.UUID) -> bool:
        """A wait ended without what it waited for: a paused run fails; an attempt its agent
        said nothing of is interrupted. ``True`` when a resume may now go on."""
        run = self.run
        step = run.current(message.step_id)
        if message.what == "capacity" and run.status == "paused" and step is not None:
            reason = (
                f"no agent could take step {step.position + 1} ({step.playbook}) within "
                f"{self.s.capacity_wait_s:g} s: {self.pause_reason}"
            )
            await self.skip_pending(cause, reason)
            await self.finish("failed", cause, reason=reason)
        elif message.what == "status" and self.awaiting == message.step_id and step:
            self.awaiting = None
            why = (
                f"its agent {step.agent} did not say within {self.s.agent_status_wait_s:g} s "
                "what became of it"
            )
            await self.interrupt(step, why, cause, cancel=True)
            return True
        return False

    # -- what comes back -------------------------------------------------------------------

    async def output(self, message: StepOutput, cause: uuid.UUID) -> None:
        run = self.run
        step = run.current(message.step_id)
        if step is None:
            return
        if step.status == "dispatched" and message.step_id not in self.output_seen:
            self.output_seen.add(message.step_id)
            try:
                await self.s.store.transition_step(
                    step.id, "dispatched", "running", message_id=cause
                )
                run.replace(step, status="running")
            except Exception as exc:  # its result still settles the attempt
                log.warning("step start not recorded", error=str(exc), step_id=str(step.id))
        await run.publish("step.output", message)

    async def result(self, message: StepResult, cause: uuid.UUID) -> None:
        step = self.run.current(message.step_id)
        if step is None or step.attempt != message.attempt or step.status in STEP_TERMINAL:
            log.info("result for no current step ignored", step_id=str(message.step_id))
            return
        await self.apply(step, message, cause)

    async def apply(self, step: StepRecord, result: StepResult, cause: uuid.UUID) -> None:
        """Record an attempt's result, then go on: the next step, a new attempt, or the end."""
        run = self.run
        stats = {host: s.model_dump() for host, s in result.stats.items()}
        reason = result.failure.error if result.failure else None
        await self.s.store.transition_step(
            step.id, step.status, result.status, message_id=cause, reason=reason, stats=stats
        )
        step = run.replace(step, status=result.status, stats=stats, reason=reason)
        if result.left_for_you:
            run.left_for_you[step.id] = result.left_for_you
        await run.publish("step.result", result)
        await self.settle(step)
        if run.status != "running":
            return  # a resumed run decides what comes next (proceed)
        if result.status == "succeeded":
            await self.dispatch_next(cause)
        elif result.status == "interrupted":
            await self.retry(step, reason or "interrupted", cause)
        else:
            if result.failure is not None:
                await self.s.record_failure(
                    run_id=run.run_id, step_id=step.id, attempt=step.attempt,
                    playbook=step.playbook, failure=result.failure,
                )  # fmt: skip
            await self.skip_pending(cause, f"step {step.position + 1} ({step.playbook}) failed")
            await self.finish("failed", cause, reason=f"{step.playbook} failed: {reason}")

    async def agent_lost(self, message: AgentLost, cause: uuid.UUID) -> None:
        for step in list(self.run.steps):
            if step.id in message.step_ids and step.status in IN_FLIGHT:
                await self.interrupt(step, f"lost its agent: {message.reason}", cause, cancel=True)

    async def status_report(self, message: StepStatusReport, cause: uuid.UUID) -> bool:
        """What an agent says became of an attempt (asked by this run when it resumed, or by
        the registry when the agent restarted). ``True`` when a resume may now go on."""
        step = self.run.current(message.step_id)
        if step is None or step.attempt != message.attempt or step.status in STEP_TERMINAL:
            return False
        await self.run.publish("step.status", message)
        resuming = self.awaiting == step.id
        if resuming:
            self.awaiting = None
            self.cancel_wait("status")
        if message.state == "finished" and message.result is not None:
            await self.apply(step, message.result, cause)
        elif message.state == "unknown":
            why = f"its agent {message.name} does not know it"
            await self.interrupt(step, f"{why}: {message.reason}" if message.reason else why,
                                 cause)  # fmt: skip
        # "running": the agent now tells its result here.
        return resuming

    async def interrupt(
        self, step: StepRecord, reason: str, cause: uuid.UUID, *, cancel: bool = False
    ) -> None:
        """The attempt stopped before it finished: ``interrupted``, then a new attempt. With
        ``cancel`` (the agent may still run it, unheard), its agent is told to stop it first:
        ahead of the new attempt, which may go to the same agent."""
        run = self.run
        await self.s.store.transition_step(
            step.id, step.status, "interrupted", message_id=cause, reason=reason
        )
        step = run.replace(step, status="interrupted", reason=reason)
        await run.publish(
            "step.result",
            StepResult(
                run_id=run.run_id, step_id=step.id, attempt=step.attempt, status="interrupted",
                seconds=0.0, failure=StepFailure(error=reason[:4000]),
            ),
        )  # fmt: skip
        await self.settle(step)
        if cancel:
            await self.tell_cancel(step, reason)
        if run.status == "running":
            await self.retry(step, reason, cause)

    async def retry(self, step: StepRecord, reason: str, cause: uuid.UUID) -> None:
        """A new attempt of an interrupted step, routed afresh; the run fails once the step
        has had ``step_max_attempts``."""
        run = self.run
        if step.attempt >= self.s.step_max_attempts:
            what = f"step {step.position + 1} ({step.playbook})"
            await self.skip_pending(cause, f"{what} was interrupted {step.attempt} times")
            await self.finish(
                "failed", cause,
                reason=f"{what} was interrupted {step.attempt} times; the last time: {reason}",
            )  # fmt: skip
            return
        plan, digest, approval = run.approved()
        [again] = await self.s.store.create_steps(
            run.run_id, [(step.position, step.attempt + 1, plan.steps[step.position])],
            plan_hash=digest, approval_id=approval.id, message_id=cause,
        )  # fmt: skip
        run.steps = [again if s.position == step.position else s for s in run.steps]
        await self.dispatch_next(cause)

    async def settle(self, step: StepRecord) -> None:
        """The registry need not watch this attempt's agent for it any more."""
        await self.s.registry.tell(StepSettled(step.id))

    async def tell_cancel(self, step: StepRecord, reason: str) -> None:
        """Tell the attempt's agent (through the registry) to stop it."""
        if step.agent is None:
            return
        await self.s.registry.tell(
            CancelStep(
                step.agent,
                StepCancel(
                    run_id=self.run.run_id, step_id=step.id, attempt=step.attempt,
                    reason=reason[:2000],
                ),
            )
        )  # fmt: skip

    # -- stopping --------------------------------------------------------------------------

    async def cancel(self, cause: uuid.UUID, reason: str) -> None:
        """Cancel what is left: each attempt in flight recorded ``cancelled`` and its agent
        told to stop it, each pending one skipped."""
        for step in list(self.run.steps):
            if step.status in IN_FLIGHT:
                await self.s.store.transition_step(
                    step.id, step.status, "cancelled", message_id=None, reason=reason
                )
                step = self.run.replace(step, status="cancelled", reason=reason)
                await self.settle(step)
                await self.tell_cancel(step, reason)
        await self.skip_pending(cause, reason)

    async def skip_pending(self, cause: uuid.UUID, reason: str) -> None:
        for step in list(self.run.steps):
            if step.status == "pending":
                await self.s.store.transition_step(
                    step.id, "pending", "skipped", message_id=cause, reason=reason
                )
                self.run.replace(step, status="skipped", reason=reason)
