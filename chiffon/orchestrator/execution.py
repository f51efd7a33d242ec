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

``Execution`` is the base of ``RunActor`` (``chiffon.orchestrator.run``), which plans, asks
for approval, resumes and ends the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Mapping
from typing import Any

import structlog
from pydantic import BaseModel

from chiffon.actors import Actor, ActorRef, handler
from chiffon.agents.capacity import requirement
from chiffon.agents.routing import (
    AgentLost,
    CancelStep,
    CapacityAvailable,
    NoCapacity,
    Route,
    StepSettled,
)
from chiffon.orchestrator.errors import DispatchRefused
from chiffon.orchestrator.events import FINISHED, RunEvent
from chiffon.orchestrator.services import RunServices
from chiffon.orchestrator.states import STEP_TERMINAL
from chiffon.orchestrator.store import ApprovalRecord, StepRecord, now
from chiffon.protocol import (
    Plan,
    StepCancel,
    StepExecute,
    StepFailure,
    StepOutput,
    StepResult,
    StepStatusReport,
)
from chiffon.protocol.messages import RunOutcome
from chiffon.run_records import RunState

log = structlog.get_logger("chiffon.run")

IN_FLIGHT = ("dispatched", "running")


@dataclasses.dataclass(frozen=True, slots=True)
class WaitTimer:
    """The run's own timer: a wait (for capacity, or for an agent's answer) is over. The
    handler tells the run a journaled ``WaitOver``, which is what changes its state."""

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


class Execution(Actor):
    """Step dispatch and outcomes; see the module docstring. The state below is the run's."""

    run_id: uuid.UUID
    s: RunServices
    status: RunState
    plan: Plan | None
    plan_hash: str | None
    approval: ApprovalRecord | None
    steps: list[StepRecord]  # the current attempt of each position
    output_seen: set[uuid.UUID]
    waits: dict[str, tuple[asyncio.TimerHandle, float]]  # what -> timer, started (monotonic)
    pause_reason: str | None
    awaiting: uuid.UUID | None  # the attempt a resumed run asked an agent about
    left_for_you: dict[uuid.UUID, tuple[str, ...]]  # step id -> what its result left to do

    # -- provided by the run actor ---------------------------------------------------------

    async def finish(
        self, status: RunOutcome, cause: uuid.UUID | None, *, reason: str | None = None,
        recorded: bool = False,
    ) -> None:  # fmt: skip
        raise NotImplementedError

    async def fail_run(self, exc: BaseException, cause: uuid.UUID | None) -> None:
        raise NotImplementedError

    async def proceed(self, cause: uuid.UUID) -> None:
        """Go on with a resumed run once its attempt out on an agent is settled."""
        raise NotImplementedError

    # -- dispatch --------------------------------------------------------------------------

    async def create_steps(self, cause: uuid.UUID) -> None:
        """A pending attempt for each step of the approved plan still to run. A fresh run gets
        first attempts. A resumed one keeps what succeeded on this plan, what is pending
        under this approval, and an attempt an agent still runs; every other position gets a
        new attempt (the next number, never one in use), whatever its last attempt was:
        interrupted, or skipped when the approval it waited under expired."""
        plan, digest, approval = self.approved()
        latest = {step.position: step for step in self.steps}

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
            self.run_id, wanted, plan_hash=digest, approval_id=approval.id, message_id=cause
        )
        by_position = {p: s for p, s in latest.items() if p < len(plan.steps)}
        by_position.update({step.position: step for step in created})
        self.steps = [by_position[p] for p in sorted(by_position)]

    async def dispatch_next(self, cause: uuid.UUID) -> None:
        """Route and send the next pending attempt; finish when none is left. One step at a
        time: nothing goes while an attempt is out."""
        if any(s.status in IN_FLIGHT for s in self.steps):
            return
        pending = next((s for s in self.steps if s.status == "pending"), None)
        if pending is None:
            await self.finish("succeeded", cause)
            return
        wanted = requirement(self.s.catalog, pending.playbook, pending.hosts)
        route = Route(self.run_id, pending.id, pending.attempt, wanted.needs, wanted.capabilities)
        answer = await self.s.registry.ask(route, timeout=self.s.route_timeout_s)
        if isinstance(answer, NoCapacity):
            await self.pause(pending, answer.reason, cause)
            return
        _, digest, approval = self.approved()
        if self.status == "paused":
            self.cancel_wait("capacity")
            await self.move("running", cause, reason=f"{answer.agent} has the capacity for "
                            f"step {pending.position + 1} ({pending.playbook})")  # fmt: skip
            await self.publish("run.resumed", {"agent": answer.agent})
        try:
            await self.s.store.transition_step(
                pending.id, "pending", "dispatched", message_id=cause, agent=answer.agent
            )
        except DispatchRefused as exc:
            await self.settle(pending)
            await self.skip_pending(cause, f"not dispatched: {exc}")
            await self.finish("failed", cause, reason=f"the database refused to dispatch: {exc}")
            return
        step = self.replace(pending, status="dispatched", agent=answer.agent)
        await self.publish(
            "step.started",
            {
                "step_id": str(step.id), "position": step.position, "attempt": step.attempt,
                "playbook": step.playbook, "hosts": list(step.hosts), "total": len(self.steps),
                "agent": answer.agent,
            },
        )  # fmt: skip
        agent: ActorRef = answer.ref
        await agent.tell(
            StepExecute(
                run_id=self.run_id, step_id=step.id, attempt=step.attempt,
                position=step.position, playbook=step.playbook, digest=step.digest,
                hosts=step.hosts, variables=step.variables, approval_id=approval.id,
                plan_hash=digest,
            )
        )  # fmt: skip

    # -- waiting for capacity --------------------------------------------------------------

    async def pause(self, step: StepRecord, reason: str, cause: uuid.UUID) -> None:
        """No agent can take ``step`` now: wait (the registry tells the run when to retry)."""
        self.pause_reason = reason
        if self.status == "paused":
            return  # still waiting, on the clock started when the run paused
        await self.move(
            "paused", cause,
            reason=f"waiting for capacity for step {step.position + 1} ({step.playbook}): {reason}",
        )  # fmt: skip
        self.arm_wait(step.id, "capacity", self.s.capacity_wait_s)
        await self.publish("run.paused", {"reason": reason, "wait_s": self.s.capacity_wait_s})
        log.info("run paused", run_id=str(self.run_id), reason=reason)

    @handler(CapacityAvailable)
    async def on_capacity(self, message: CapacityAvailable) -> None:
        if self.status != "paused":
            return
        cause = self.cause()
        try:
            await self.dispatch_next(cause)
        except Exception as exc:
            await self.fail_run(exc, cause)

    def arm_wait(self, step_id: uuid.UUID, what: str, seconds: float) -> None:
        self.cancel_wait(what)
        me = self.context.self_ref
        armed = time.monotonic()

        def over() -> None:
            if me.is_alive:
                me.tell_nowait(WaitTimer(step_id, what, armed))

        timer = asyncio.get_running_loop().call_later(max(seconds, 0.0), over)
        self.waits[what] = (timer, armed)

    def cancel_wait(self, what: str) -> None:
        wait = self.waits.pop(what, None)
        if wait is not None:
            wait[0].cancel()

    @handler(WaitTimer)
    async def on_wait_timer(self, message: WaitTimer) -> None:
        wait = self.waits.get(message.what)
        if wait is None or wait[1] != message.armed:
            return  # cancelled, or armed again since
        del self.waits[message.what]
        await self.context.self_ref.tell(
            WaitOver(message.step_id, message.what, round(time.monotonic() - wait[1], 3))
        )

    @handler(WaitOver)
    async def on_wait_over(self, message: WaitOver) -> None:
        cause = self.cause()
        step = self.current(message.step_id)
        try:
            if message.what == "capacity" and self.status == "paused" and step is not None:
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
                await self.proceed(cause)
        except Exception as exc:
            await self.fail_run(exc, cause)

    # -- what comes back -------------------------------------------------------------------

    @handler(StepOutput)
    async def on_output(self, message: StepOutput) -> None:
        step = self.current(message.step_id)
        if step is None:
            return
        if step.status == "dispatched" and message.step_id not in self.output_seen:
            self.output_seen.add(message.step_id)
            try:
                await self.s.store.transition_step(
                    step.id, "dispatched", "running", message_id=self.cause()
                )
                self.replace(step, status="running")
            except Exception as exc:
                log.warning("step start not recorded", error=str(exc), step_id=str(step.id))
        await self.publish("step.output", message)

    @handler(StepResult)
    async def on_result(self, message: StepResult) -> None:
        cause = self.cause()
        step = self.current(message.step_id)
        if step is None or step.attempt != message.attempt or step.status in STEP_TERMINAL:
            log.info("result for no current step ignored", step_id=str(message.step_id))
            return
        try:
            await self.apply(step, message, cause)
        except Exception as exc:
            await self.fail_run(exc, cause)

    async def apply(self, step: StepRecord, result: StepResult, cause: uuid.UUID) -> None:
        """Record an attempt's result, then go on: the next step, a new attempt, or the end."""
        stats = {host: s.model_dump() for host, s in result.stats.items()}
        reason = result.failure.error if result.failure else None
        await self.s.store.transition_step(
            step.id, step.status, result.status, message_id=cause, reason=reason, stats=stats
        )
        step = self.replace(step, status=result.status, stats=stats, reason=reason)
        if result.left_for_you:
            self.left_for_you[step.id] = result.left_for_you
        await self.publish("step.result", result)
        await self.settle(step)
        if self.status != "running":
            return  # a resumed run decides what comes next (proceed)
        if result.status == "succeeded":
            await self.dispatch_next(cause)
        elif result.status == "interrupted":
            await self.retry(step, reason or "interrupted", cause)
        else:
            if result.failure is not None:
                await self.s.record_failure(
                    run_id=self.run_id, step_id=step.id, attempt=step.attempt,
                    playbook=step.playbook, failure=result.failure,
                )  # fmt: skip
            await self.skip_pending(cause, f"step {step.position + 1} ({step.playbook}) failed")
            await self.finish("failed", cause, reason=f"{step.playbook} failed: {reason}")

    @handler(AgentLost)
    async def on_agent_lost(self, message: AgentLost) -> None:
        cause = self.cause()
        try:
            for step in list(self.steps):
                if step.id in message.step_ids and step.status in IN_FLIGHT:
                    await self.interrupt(
                        step, f"lost its agent: {message.reason}", cause, cancel=True
                    )
        except Exception as exc:
            await self.fail_run(exc, cause)

    @handler(StepStatusReport)
    async def on_status(self, message: StepStatusReport) -> None:
        """What an agent says became of an attempt (asked by this run when it resumed, or by
        the registry when the agent restarted)."""
        cause = self.cause()
        step = self.current(message.step_id)
        if step is None or step.attempt != message.attempt or step.status in STEP_TERMINAL:
            return
        await self.publish("step.status", message)
        resuming = self.awaiting == step.id
        if resuming:
            self.awaiting = None
            self.cancel_wait("status")
        try:
            if message.state == "finished" and message.result is not None:
                await self.apply(step, message.result, cause)
            elif message.state == "unknown":
                why = f"its agent {message.name} does not know it"
                await self.interrupt(step, f"{why}: {message.reason}" if message.reason else why,
                                     cause)  # fmt: skip
            # "running": the agent now tells its result here.
            if resuming:
                await self.proceed(cause)
        except Exception as exc:
            await self.fail_run(exc, cause)

    async def interrupt(
        self, step: StepRecord, reason: str, cause: uuid.UUID, *, cancel: bool = False
    ) -> None:
        """The attempt stopped before it finished: ``interrupted``, then a new attempt. With
        ``cancel`` (the agent may still run it, unheard), its agent is told to stop it first:
        ahead of the new attempt, which may go to the same agent."""
        await self.s.store.transition_step(
            step.id, step.status, "interrupted", message_id=cause, reason=reason
        )
        step = self.replace(step, status="interrupted", reason=reason)
        await self.publish(
            "step.result",
            StepResult(
                run_id=self.run_id, step_id=step.id, attempt=step.attempt, status="interrupted",
                seconds=0.0, failure=StepFailure(error=reason[:4000]),
            ),
        )  # fmt: skip
        await self.settle(step)
        if cancel and step.agent is not None:
            await self.s.registry.tell(
                CancelStep(
                    step.agent,
                    StepCancel(
                        run_id=self.run_id, step_id=step.id, attempt=step.attempt,
                        reason=reason[:2000],
                    ),
                )
            )  # fmt: skip
        if self.status == "running":
            await self.retry(step, reason, cause)

    async def retry(self, step: StepRecord, reason: str, cause: uuid.UUID) -> None:
        """A new attempt of an interrupted step, routed afresh; the run fails once the step
        has had ``step_max_attempts``."""
        if step.attempt >= self.s.step_max_attempts:
            what = f"step {step.position + 1} ({step.playbook})"
            await self.skip_pending(cause, f"{what} was interrupted {step.attempt} times")
            await self.finish(
                "failed", cause,
                reason=f"{what} was interrupted {step.attempt} times; the last time: {reason}",
            )  # fmt: skip
            return
        plan, digest, approval = self.approved()
        [again] = await self.s.store.create_steps(
            self.run_id, [(step.position, step.attempt + 1, plan.steps[step.position])],
            plan_hash=digest, approval_id=approval.id, message_id=cause,
        )  # fmt: skip
        self.steps = [again if s.position == step.position else s for s in self.steps]
        await self.dispatch_next(cause)

    async def settle(self, step: StepRecord) -> None:
        """The registry need not watch this attempt's agent for it any more."""
        await self.s.registry.tell(StepSettled(step.id))

    async def cancel_attempt(self, step: StepRecord, reason: str) -> None:
        """Cancel an attempt in flight: recorded ``cancelled``, and its agent told to stop
        it (through the registry)."""
        await self.s.store.transition_step(
            step.id, step.status, "cancelled", message_id=None, reason=reason
        )
        step = self.replace(step, status="cancelled", reason=reason)
        await self.settle(step)
        if step.agent is not None:
            await self.s.registry.tell(
                CancelStep(
                    step.agent,
                    StepCancel(
                        run_id=self.run_id, step_id=step.id, attempt=step.attempt,
                        reason=reason[:2000],
                    ),
                )
            )  # fmt: skip

    async def skip_pending(self, cause: uuid.UUID, reason: str) -> None:
        for step in list(self.steps):
            if step.status == "pending":
                await self.s.store.transition_step(
                    step.id, "pending", "skipped", message_id=cause, reason=reason
                )
                self.replace(step, status="skipped", reason=reason)

    # -- shared helpers --------------------------------------------------------------------

    async def move(
        self, to_state: RunState, cause: uuid.UUID | None, reason: str | None = None
    ) -> None:
        await self.s.store.transition_run(
            self.run_id, self.status, to_state, message_id=cause, reason=reason
        )
        self.status = to_state

    async def publish(self, kind: str, data: BaseModel | Mapping[str, Any]) -> None:
        """Tell the world (``RunEvent`` of ``kind``). An event the database cannot store is
        logged, not fatal: the run's own state is what counts. Its end is still told to this
        process's watchers (with id 0), so that a caller waiting here learns it."""
        payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
        try:
            await self.s.events.append(self.run_id, kind, payload)
        except Exception as exc:
            log.warning("run event not stored", run_id=str(self.run_id), kind=kind, error=str(exc))
            if kind == FINISHED:
                self.s.events.publish(
                    RunEvent(id=0, run_id=self.run_id, at=now(), kind=kind, data=payload)
                )

    def proposed(self) -> tuple[Plan, str]:
        if self.plan is None or self.plan_hash is None:
            raise RuntimeError(f"run {self.run_id} has no plan")
        return self.plan, self.plan_hash

    def approved(self) -> tuple[Plan, str, ApprovalRecord]:
        plan, digest = self.proposed()
        if self.approval is None:
            raise RuntimeError(f"run {self.run_id} has no approval")
        return plan, digest, self.approval

    def cause(self) -> uuid.UUID:
        envelope = self.context.envelope
        assert envelope is not None
        return uuid.UUID(int=envelope.id)

    def current(self, step_id: uuid.UUID) -> StepRecord | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def replace(self, step: StepRecord, **changes: Any) -> StepRecord:
        new = dataclasses.replace(step, **changes)
        self.steps = [new if s.id == step.id else s for s in self.steps]
        return new
