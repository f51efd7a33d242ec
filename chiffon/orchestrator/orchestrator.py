"""``Orchestrator``: accepts requests, starts one ``RunActor`` per run, reconciles on start.

Start-up reconciliation (DESIGN.md's recovery rules): every run not in a terminal state whose
owning process is gone is taken over — a run that was planning, or executing steps, becomes
``interrupted``; a run awaiting approval stays awaiting. An attempt that was out on an agent
of the dead process (a local agent) becomes ``interrupted`` — it is never re-run without a new
attempt record. What is left of it (ansible-playbook's workers, a probe worker: they run in
sessions of their own and outlive a killed ``chiffon``) is not the orchestrator's to kill: the
local agent of this process took the dead process's unfinished attempts over from its ledger
as it started, before the orchestrator, killing them through its executor's ``leftovers``; so
``interrupted`` means stopped, and a new attempt never runs beside the old one. An attempt out
on a remote agent is left as it is: that agent may still be running it, and is asked when the
run resumes.

``ResumeRun`` (``chiffon run --resume``) picks a run up: an attempt on a remote agent is asked
after (finished: its result; still running: waited for; unknown or no answer: interrupted),
an interrupted step gets a new attempt if the approval still holds, otherwise the plan is
proposed again. With ``resume_taken`` (``chiffon serve``), the runs reconciliation took over
while they were executing are resumed at once, with no session, and those awaiting approval
get an actor that waits for the decision (their proposal stands, deadline unchanged).
"""

from __future__ import annotations

import dataclasses
import uuid

import structlog

from chiffon.actors import Actor, ActorNotFound, Directive, LocalRef, OneForOne, handler
from chiffon.orchestrator.errors import NotResumable
from chiffon.orchestrator.run import RunActor, StartRun
from chiffon.orchestrator.services import RunServices
from chiffon.orchestrator.states import RUN_TERMINAL
from chiffon.orchestrator.store import RunRecord
from chiffon.ownership import is_alive
from chiffon.protocol import RunRequested

log = structlog.get_logger("chiffon.orchestrator")


@dataclasses.dataclass(frozen=True, slots=True)
class ResumeRun:
    """A human's command to pick up a stopped run. Journaled: it causes transitions."""

    run_id: uuid.UUID
    requested_by: str
    dry_run: bool = True
    durability = "sync"


@dataclasses.dataclass(frozen=True, slots=True)
class ResumeTaken:
    """The orchestrator's own: resume a run it took over at start. Journaled: it causes
    transitions."""

    run_id: uuid.UUID
    durability = "sync"


class Orchestrator(Actor):
    """The runs' parent. A run actor that crashes is not restarted (its state is in the
    database; a resume picks it up): the supervisor stops it."""

    supervisor_strategy = OneForOne(decider=lambda exc: Directive.STOP)

    def __init__(self, services: RunServices, *, resume_taken: bool = False) -> None:
        self.s = services
        self.resume_taken = resume_taken

    async def on_start(self) -> None:
        taken = await self.reconcile()
        if not self.resume_taken:
            return
        for run_id in taken:
            await self.context.self_ref.tell(ResumeTaken(run_id))

    @handler(ResumeTaken)
    async def on_resume_taken(self, message: ResumeTaken) -> None:
        """Resume a run taken over from a dead process, with no session (``chiffon serve``):
        one that was executing goes on; one awaiting approval waits for a decision from any
        channel (without an actor here, its approval would leave it ``approved`` forever)."""
        record = await self.s.store.run(message.run_id)
        if record.status not in ("interrupted", "awaiting_approval") or record.plan_hash is None:
            return
        run = await self.context.spawn(
            RunActor, record.id, self.s, planner=record.planner,
            high_value=record.high_value, budget_usd=record.budget_usd, dry_run=False,
            name=f"run-{record.id}",
        )  # fmt: skip
        await run.tell(StartRun(self.cause(), resume=True, propose_again=False))

    async def reconcile(self) -> list[uuid.UUID]:
        """Take over the unfinished runs of dead processes; returns their ids."""
        taken: list[uuid.UUID] = []
        for run in await self.s.store.unfinished():
            if run.owner == self.s.owner or is_alive(run.owner):
                continue
            if not await self.s.store.claim(run.id, self.s.owner, run.owner):
                continue  # another process took it first
            taken.append(run.id)
            await self.interrupt(run)
        if taken:
            log.info("reconciled runs of stopped processes", runs=[str(r) for r in taken])
        return taken

    async def interrupt(self, run: RunRecord) -> None:
        store = self.s.store
        reason = f"the process driving it ({run.owner or 'unknown'}) stopped"
        if run.status in ("received", "planning", "approved", "running", "paused"):
            for step in await store.steps(run.id):
                # What is left of it on this host was killed by the local agent, which took
                # the dead process's unfinished attempts over from its ledger as it started.
                if step.status in ("dispatched", "running") and (
                    step.agent is None or step.agent in self.s.local_agents
                ):
                    await store.transition_step(
                        step.id, step.status, "interrupted", message_id=None, reason=reason
                    )
            await store.transition_run(
                run.id, run.status, "interrupted", message_id=None, reason=reason
            )

    @handler(RunRequested)
    async def on_request(self, message: RunRequested) -> uuid.UUID:
        cause = self.cause()
        await self.s.store.create_run(
            message.run_id, request=message.request, requested_by=message.requested_by,
            planner=message.planner, high_value=message.high_value,
            budget_usd=message.budget_usd, owner=self.s.owner, message_id=cause,
        )  # fmt: skip
        run = await self.spawn_run(
            message.run_id, message.planner, message.high_value, message.budget_usd,
            message.dry_run,
        )  # fmt: skip
        await run.tell(StartRun(cause))
        return message.run_id

    @handler(ResumeRun)
    async def on_resume(self, message: ResumeRun) -> uuid.UUID | NotResumable:
        """Resume a run; a run that cannot be resumed is answered (not raised: that would
        restart the orchestrator) with ``NotResumable``."""
        try:
            return await self.resume(message)
        except NotResumable as exc:
            return exc

    async def resume(self, message: ResumeRun) -> uuid.UUID:
        cause = self.cause()
        await self.reconcile()
        record = await self.s.store.run(message.run_id)
        if record.status in RUN_TERMINAL:
            raise NotResumable(f"run {record.id} has already ended: {record.status}")
        if record.owner != self.s.owner and is_alive(record.owner):
            raise NotResumable(f"run {record.id} is being driven by {record.owner}")
        if not await self.s.store.claim(record.id, self.s.owner, record.owner):
            raise NotResumable(f"run {record.id} was taken over by another process")
        if self.running_here(record.id):
            raise NotResumable(f"run {record.id} is already running here")
        run = await self.spawn_run(
            record.id, record.planner, record.high_value, record.budget_usd, message.dry_run
        )
        await run.tell(StartRun(cause, resume=True))
        return record.id

    async def spawn_run(
        self, run_id: uuid.UUID, planner: str, high_value: bool, budget: float, dry_run: bool
    ) -> LocalRef:
        return await self.context.spawn(
            RunActor, run_id, self.s, planner=planner, high_value=high_value,
            budget_usd=budget, dry_run=dry_run, name=f"run-{run_id}",
        )  # fmt: skip

    def running_here(self, run_id: uuid.UUID) -> bool:
        try:
            self.context.system.lookup(f"run-{run_id}")
        except ActorNotFound:
            return False
        return True

    def cause(self) -> uuid.UUID:
        envelope = self.context.envelope
        assert envelope is not None
        return uuid.UUID(int=envelope.id)
