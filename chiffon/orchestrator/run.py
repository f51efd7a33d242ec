"""``RunActor``: one run, from request to plan, approval, execution and its end.

Message-driven: the run plans when started, proposes the plan (a pending approval any channel
may decide: ``chiffon.orchestrator.decisions``), and moves only when a message arrives — a
``PlanDecision`` once a decision is recorded (by any channel, in any process, or by its own
expiry timer), a ``StepOutput`` or ``StepResult`` from an agent, word from the agents'
registry (capacity, a lost agent), a request to cancel. Everything it tells the world is a
``RunEvent`` in the ``EventLog``.

Composed, not inherited: the actor holds the run's ``RunProgress`` (its state, and how a move
is recorded and told: ``chiffon.orchestrator.progress``) and an ``Execution`` that sends the
steps to agents through the registry and settles what comes back
(``chiffon.orchestrator.execution``); its handlers hand the agents' messages on. Its timers
(the approval's expiry, the execution's waits, a notice heard from the event log) are the
runtime's (``context.send_after``), cancelled when it stops.

Each state change is written with the message that caused it (``RunStore``); every message
that changes its state was journaled before it arrived. A run that cannot go on (a database
outage, a planner failure) ends ``failed`` with the reason — one place, the runtime's failure
hook (``on_failure``), not a try in each handler; one whose process dies is found by start-up
reconciliation and interrupted, then resumed (an attempt out on a remote agent is asked after
first).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from chiffon.actors import Actor, Durability, handler
from chiffon.agents.routing import AgentLost, CapacityAvailable
from chiffon.errors import ChiffonError
from chiffon.orchestrator.decisions import CANCEL_REQUESTED, TO_STATE, cancel_pending, decide
from chiffon.orchestrator.event_log import Notice
from chiffon.orchestrator.events import FINISHED, RunEvent
from chiffon.orchestrator.execution import IN_FLIGHT, Execution, WaitOver, WaitTimer
from chiffon.orchestrator.progress import RunProgress
from chiffon.orchestrator.services import RunServices
from chiffon.orchestrator.store import ApprovalRecord, StepRecord, now
from chiffon.planning.errors import InvalidPlan, UnusablePlan
from chiffon.planning.planner import NeedsClarification, PlanRequest
from chiffon.planning.sealing import seal_plan
from chiffon.planning.validation import validate_plan
from chiffon.playbooks.generation.staging import discard_staged, install_staged
from chiffon.protocol import (
    HostStats,
    PlanDecision,
    PlanProposed,
    RunFinished,
    StepOutput,
    StepResult,
    StepStatusReport,
    StepSummary,
    plan_hash,
)
from chiffon.protocol.messages import RunOutcome
from chiffon.sealing import shown

log = structlog.get_logger("chiffon.run")

STOPPED_WITH_ITS_PROCESS = frozenset({"received", "planning", "approved", "running", "paused"})
"""The states of a run its process drives: when that process stops, so does the run. A run
awaiting approval waits for a decision, from any channel, whoever drives it."""


@dataclasses.dataclass(frozen=True, slots=True)
class StartRun:
    """Internal kick from the orchestrator: plan (or, resuming, pick up where it stopped).
    Not journaled: the ``RunRequested`` (or resume command) it follows was."""

    cause: uuid.UUID
    resume: bool = False
    propose_again: bool = True
    """Resuming a run awaiting approval, propose its plan again (a session shows it); off,
    the open proposal stands and the run waits for a decision from any channel."""
    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class Heard:
    """Internal: an event the run waits for (a decision, a request to cancel) was written,
    here or by another process; the handler reads the store to see what it says."""

    kind: str
    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class ApprovalTimeout:
    """The run's own timer: the proposal of ``plan_hash`` was not decided in time."""

    plan_hash: str
    durability = "transient"


class RunActor(Actor):
    """Drives one run. Constructed by the ``Orchestrator``. It holds the run's
    ``RunProgress`` and its ``Execution`` (dispatching the steps and what comes back), whose
    messages its handlers hand on. A handler that raises is dealt with in one place,
    ``on_failure``: the run ends ``failed``, saying what broke."""

    def __init__(
        self,
        run_id: uuid.UUID,
        services: RunServices,
        *,
        planner: str,
        high_value: bool,
        budget_usd: float,
        dry_run: bool,
    ) -> None:
        self.run_id = run_id
        self.s = services
        self.planner_choice = planner
        self.high_value = high_value
        self.budget_usd = budget_usd
        self.dry_run = dry_run
        self.run = RunProgress(run_id, services)
        self.started = time.monotonic()
        self.unwatch: Callable[[], None] | None = None

    async def on_start(self) -> None:
        context = self.context
        self.execution = Execution(self.run, self.s, context, self.finish)

        def heard(what: RunEvent | Notice) -> None:
            # A timer with no delay: a full mailbox delays the notice, never loses it, and
            # notices of one kind not yet handled are one (the handler reads the store).
            if what.kind in ("decision", CANCEL_REQUESTED):
                context.send_after(0.0, Heard(what.kind), key=("heard", what.kind))

        self.unwatch = self.s.events.watch(self.run_id, heard)

    async def on_failure(self, error: Exception, message: Any) -> None:
        """Something broke (planner, database) while handling ``message``: the run ends
        ``failed``, the transitions it writes caused by that message when it was journaled.
        While the process stops (Ctrl-C), a failure is the shutdown's doing — its agents
        stopping first, say — not the run's: the run stops and is recorded ``interrupted``."""
        if self.context.system.closing:
            log.info("run stopped by the shutdown", run_id=str(self.run_id), error=str(error))
            self.context.stop()
            return
        if isinstance(message, StartRun):
            cause: uuid.UUID | None = message.cause
        elif self.context.system.durability_of(type(message)) is Durability.TRANSIENT:
            cause = None
        else:
            cause = self.cause()
        await self.fail_run(error, cause)

    # -- start and planning ----------------------------------------------------------------

    @handler(StartRun)
    async def on_start_run(self, message: StartRun) -> None:
        if message.resume:
            await self.resume(message.cause, propose_again=message.propose_again)
        else:
            await self.run.move("planning", message.cause)
            await self.propose(message.cause, feedback=None)

    async def propose(self, cause: uuid.UUID, feedback: str | None) -> None:
        """Plan, validate, store the revision, and propose it for a decision."""
        run = self.run
        record = await self.s.store.run(self.run_id)
        planner = self.s.planner_for(self.planner_choice, self.high_value)
        sealer = self.s.sealer
        # The request is stored sealed; the planner reads what was typed.
        text = sealer.open_text(record.request) if sealer is not None else record.request
        try:
            outcome = await planner.plan(
                PlanRequest(
                    text=text, run_id=self.run_id, feedback=feedback,
                    previous=run.plan, high_value=self.high_value, budget_usd=self.budget_usd,
                )
            )  # fmt: skip
        except UnusablePlan as exc:  # an invalid plan, like any other: never shown
            await self.finish("rejected", cause, reason=str(exc))
            return
        if isinstance(outcome, NeedsClarification):
            await run.publish(
                "plan.question",
                {"question": outcome.question, "candidates": list(outcome.candidates)},
            )
            await self.finish("rejected", cause, reason=f"needs clarification: {outcome.question}")
            return
        try:
            plan = validate_plan(outcome, self.s.catalog)
        except InvalidPlan as exc:
            await self.finish("rejected", cause, reason=str(exc))
            return
        if sealer is not None:
            plan = seal_plan(plan, self.s.catalog, sealer, request=record.request)
        digest = plan_hash(plan)
        run.revision = record.revision + 1
        services = sorted(
            {s for step in plan.steps for s in self.s.catalog.entries[step.playbook].services}
        )
        await self.s.store.add_plan(
            self.run_id, run.revision, plan, digest, services=services, feedback=feedback,
            message_id=cause,
        )  # fmt: skip
        run.status = "awaiting_approval"
        run.plan, run.plan_hash = plan, digest
        await run.publish(
            "plan.ready",
            {"revision": run.revision, "plan": plan.model_dump(mode="json"), "plan_hash": digest},
        )
        await self.send_proposal()

    async def send_proposal(self) -> None:
        run = self.run
        plan, digest = run.proposed()
        dry_run: tuple[str, ...] = ()
        if self.dry_run and self.s.preview is not None:
            try:
                dry_run = await self.s.preview(plan)
            except Exception as exc:  # a preview is a courtesy: its failure is shown, not fatal
                dry_run = tuple(f"dry run unavailable: {exc}" for _ in plan.steps)
        ttl = self.s.approval_ttl
        proposal = PlanProposed(
            run_id=self.run_id, revision=run.revision, plan=plan,
            plan_hash=digest, expires_at=now() + ttl, dry_run=dry_run,
        )  # fmt: skip
        # The pending approval and the event that announces it commit together: whoever
        # sees the proposal can decide on it.
        store, events = self.s.store, self.s.events
        async with store.db.transaction() as tx:
            await store.open_proposal(self.run_id, run.revision, digest, proposal.expires_at, db=tx)
            event = await events.insert(
                tx, self.run_id, "plan.proposed", proposal.model_dump(mode="json")
            )
        events.publish(event)
        self.context.send_after(ttl.total_seconds(), ApprovalTimeout(digest), key=ApprovalTimeout)

    @handler(ApprovalTimeout)
    async def on_timeout(self, message: ApprovalTimeout) -> None:
        run = self.run
        if run.status != "awaiting_approval" or message.plan_hash != run.plan_hash:
            return
        # Decided like any decision, with the timer as its channel; a person who decided
        # first wins, and their decision drives the run.
        try:
            await decide(
                self.s.store, self.s.events, self.run_id, decision="expired",
                revision=run.revision, plan_hash=message.plan_hash, approver="chiffon",
                channel="timer", valid_for=self.s.approval_ttl,
            )  # fmt: skip
        except ChiffonError as exc:
            log.info("expiry not recorded", run_id=str(self.run_id), reason=str(exc))

    # -- decisions -------------------------------------------------------------------------

    @handler(Heard)
    async def on_heard(self, message: Heard) -> None:
        """A decision or a request to cancel was written: see what the store says."""
        run = self.run
        if message.kind == CANCEL_REQUESTED:
            await self.cancel_requested()
            return
        if run.status != "awaiting_approval":
            return
        record = await self.decided()
        if record is None:
            return
        if record.decision == "cancelled":
            run.status = "cancelled"
            await self.execution.skip_pending(uuid.uuid4(), f"cancelled by {record.approver}")
            await self.finish(
                "cancelled", None, reason=f"cancelled by {record.approver}", recorded=True
            )
            return
        # Journaled, so that what the decision causes names it.
        await self.context.self_ref.tell(
            PlanDecision(
                run_id=self.run_id, plan_hash=record.plan_hash,
                decision=record.decision, approver=record.approver, channel=record.channel,
                feedback=record.feedback,
            )
        )  # fmt: skip

    async def decided(self) -> ApprovalRecord | None:
        """The recorded decision on the current revision, if any."""
        revision = self.run.revision
        mine = [d for d in await self.s.store.decisions(self.run_id) if d.revision == revision]
        return mine[-1] if mine else None

    @handler(PlanDecision)
    async def on_decision(self, message: PlanDecision) -> None:
        run = self.run
        cause = self.cause()
        if run.status != "awaiting_approval" or message.plan_hash != run.plan_hash:
            log.info(
                "stale decision ignored", run_id=str(self.run_id), decision=message.decision,
                status=run.status,
            )  # fmt: skip
            return
        # Only a decision the store holds counts: it won the race, on this revision.
        record = await self.decided()
        if record is None or record.decision != message.decision:
            log.warning("unrecorded decision ignored", run_id=str(self.run_id))
            return
        self.context.cancel_timer(ApprovalTimeout)
        run.status = TO_STATE[record.decision]
        if record.decision == "approve":
            run.approval = record
            await self.milestone("approved", f"approved by {record.approver}")
            await run.move("running", cause)
            # A playbook generated for this plan joins the catalog once it is approved.
            await install_staged(self.s.catalog, run.approved()[0])
            await self.execution.create_steps(cause)
            await self.execution.dispatch_next(cause)
        elif record.decision == "modify":
            await self.propose(cause, feedback=record.feedback)
        else:
            reason = (
                f"rejected by {record.approver}"
                + (f": {record.feedback}" if record.feedback else "")
                if record.decision == "reject"
                else "no decision before the approval expired"
            )
            outcome: RunOutcome = "rejected" if record.decision == "reject" else "expired"
            await self.finish(outcome, cause, reason=reason, recorded=True)

    async def cancel_requested(self) -> None:
        """Someone asked to cancel the run: stop the attempt in flight, skip the rest, end
        ``cancelled``."""
        if self.run.ended:
            return
        events = await self.s.events.stored(self.run_id, after=0)
        asked = next((e for e in reversed(events) if e.kind == CANCEL_REQUESTED), None)
        by = asked.data.get("by", "someone") if asked is not None else "someone"
        channel = asked.data.get("channel", "api") if asked is not None else "api"
        reason = f"cancelled by {by}"
        cause = uuid.uuid4()
        if self.run.status == "awaiting_approval":
            # The proposal opened after the cancel was asked for: close it with the run, so
            # nobody can decide on a cancelled run's plan.
            if await cancel_pending(
                self.s.store, self.s.events, self.run_id, by=by, channel=channel
            ):
                self.run.status = "cancelled"
                await self.execution.skip_pending(cause, reason)
                await self.finish("cancelled", None, reason=reason, recorded=True)
                return
            if await self.decided() is not None:
                # A decision took it first: act on it, then on the cancel.
                await self.on_heard(Heard("decision"))
                await self.context.self_ref.tell(Heard(CANCEL_REQUESTED))
                return
        await self.execution.cancel(cause, reason)
        await self.finish("cancelled", None, reason=reason)

    # -- what comes back from the agents (the execution's) ---------------------------------

    @handler(CapacityAvailable)
    async def on_capacity(self, message: CapacityAvailable) -> None:
        await self.execution.capacity_available(message, self.cause())

    @handler(WaitTimer)
    async def on_wait_timer(self, message: WaitTimer) -> None:
        waited = round(time.monotonic() - message.armed, 3)
        await self.context.self_ref.tell(WaitOver(message.step_id, message.what, waited))

    @handler(WaitOver)
    async def on_wait_over(self, message: WaitOver) -> None:
        cause = self.cause()
        if await self.execution.wait_over(message, cause):
            await self.proceed(cause)

    @handler(StepOutput)
    async def on_output(self, message: StepOutput) -> None:
        await self.execution.output(message, self.cause())

    @handler(StepResult)
    async def on_result(self, message: StepResult) -> None:
        await self.execution.result(message, self.cause())

    @handler(AgentLost)
    async def on_agent_lost(self, message: AgentLost) -> None:
        await self.execution.agent_lost(message, self.cause())

    @handler(StepStatusReport)
    async def on_status(self, message: StepStatusReport) -> None:
        cause = self.cause()
        if await self.execution.status_report(message, cause):
            await self.proceed(cause)

    # -- resuming --------------------------------------------------------------------------

    async def resume(self, cause: uuid.UUID, *, propose_again: bool = True) -> None:
        """Pick the run up from its stored state (DESIGN.md's recovery rules)."""
        run = self.run
        record = await self.s.store.run(self.run_id)
        run.status = record.status
        run.revision = record.revision
        if record.revision:
            run.plan, run.plan_hash = await self.s.store.plan(self.run_id, record.revision)
        if record.status in ("received", "planning") or (
            record.status == "interrupted" and run.plan is None
        ):
            feedback = None
            if record.status == "planning":  # a modify decided while no process drove it
                decision = await self.decided()
                feedback = decision.feedback if decision and decision.decision == "modify" else None
            else:
                await run.move("planning", cause)
            await self.propose(cause, feedback=feedback)
            return
        if record.status == "awaiting_approval":
            pending = await self.s.store.pending(self.run_id)
            if propose_again or pending is None:
                await self.send_proposal()
            else:
                # Proposing again would extend its deadline and replace its check-mode diff:
                # the proposal stands, and expires when it was due.
                run.status = "awaiting_approval"
                self.context.send_after(
                    (pending.respond_by - now()).total_seconds(),
                    ApprovalTimeout(pending.plan_hash),
                    key=ApprovalTimeout,
                )
            return
        assert run.plan_hash is not None
        run.approval = await self.s.store.latest_approval(self.run_id, run.plan_hash)
        latest: dict[int, StepRecord] = {}
        for step in await self.s.store.steps(self.run_id):
            latest[step.position] = step
        out: StepRecord | None = None
        for step in list(latest.values()):
            if step.status not in IN_FLIGHT:
                continue
            if step.agent is None or step.agent in self.s.local_agents:
                # Its agent was in the process that stopped: the attempt stopped with it.
                reason = "the process driving it stopped; resumed as a new attempt"
                await self.s.store.transition_step(
                    step.id, step.status, "interrupted", message_id=cause, reason=reason
                )
                latest[step.position] = dataclasses.replace(step, status="interrupted")
            else:
                out = step
        run.steps = [latest[p] for p in sorted(latest)]
        for event in await self.s.events.stored(self.run_id, after=0):
            if event.kind == "step.result" and event.data.get("left_for_you"):
                step_id = uuid.UUID(str(event.data["step_id"]))
                run.left_for_you[step_id] = tuple(event.data["left_for_you"])
        if out is not None:
            # A remote agent may still run it, or have finished it: ask before anything else
            # (the answer, or the wait running out, goes on with ``proceed``).
            await self.execution.ask_agent(out)
            return
        await self.proceed(cause)

    async def proceed(self, cause: uuid.UUID) -> None:
        """The rest of a resume, once no attempt's fate is in doubt: under a valid approval,
        new attempts for what was interrupted and on with the steps; under an expired one,
        the plan proposed again."""
        run, execution = self.run, self.execution
        approval_valid = run.approval is not None and run.approval.expires_at > now()
        if not approval_valid:
            # What was waiting under the expired approval never runs under it: a new approval
            # gives it a new attempt (create_steps).
            await execution.skip_pending(cause, "not dispatched before its approval expired")
            if run.status != "interrupted":
                await run.move("interrupted", cause, reason="approval expired while stopped")
            await run.move("awaiting_approval", cause, reason="the approval expired: asking again")
            await self.send_proposal()
            return
        if run.status in ("approved", "interrupted", "paused"):
            await run.move("running", cause, reason="resumed")
        if any(s.status == "failed" for s in run.steps):
            await execution.skip_pending(cause, "a step had failed before the resume")
            await self.finish("failed", cause, reason="a step had failed before the resume")
            return
        # An interrupted attempt is never run again as it was: it gets a new attempt row. A
        # position with no row yet (stopped between approval and dispatch) gets its first.
        # An attempt an agent still runs is waited for (dispatch_next sends nothing meanwhile).
        await install_staged(self.s.catalog, run.approved()[0])
        await execution.create_steps(cause)
        await execution.dispatch_next(cause)

    # -- the end ---------------------------------------------------------------------------

    async def finish(
        self, status: RunOutcome, cause: uuid.UUID | None, *, reason: str | None = None,
        recorded: bool = False,
    ) -> None:  # fmt: skip
        """Move to a terminal state (unless already there), record cost and the milestone,
        tell the world, stop (and with it every timer of the run's)."""
        run = self.run
        if status != "interrupted":  # a resumed run may still need what it generated
            await self.discard_generated()
        if not recorded and run.status != status:
            await run.move(status, cause, reason=reason)
        cost = 0.0
        try:
            cost = await self.s.run_cost(self.run_id)
            await self.s.store.set_cost(self.run_id, cost)
        except Exception as exc:
            log.warning("run cost not recorded", error=str(exc))
        summary = RunFinished(
            run_id=self.run_id, status=status, steps=tuple(self.summaries()), cost_usd=cost,
            seconds=round(time.monotonic() - self.started, 3), reason=reason,
        )  # fmt: skip
        await self.milestone(
            "finished" if status != "interrupted" else "interrupted", reason or status, summary
        )
        await run.publish(FINISHED, summary)
        self.context.stop()

    async def discard_generated(self) -> None:
        """Drop the playbooks generated for this run and not installed, with their files."""
        try:
            await discard_staged(self.s.catalog, str(self.run_id))
        except OSError as exc:  # leftover files cost disk space, never the run's outcome
            log.warning("generated files not removed", run_id=str(self.run_id), error=str(exc))

    async def fail_run(self, exc: BaseException, cause: uuid.UUID | None) -> None:
        """End the run failed, saying what broke; when even that cannot be recorded, its
        end is still told, and the actor stops."""
        reason = str(exc) if isinstance(exc, ChiffonError) else f"{type(exc).__name__}: {exc}"
        log.warning("run failed", run_id=str(self.run_id), error=reason)
        try:
            if not self.run.ended:
                await self.execution.skip_pending(cause or uuid.uuid4(), reason)
                await self.finish("failed", cause, reason=reason)
                return
        except Exception as second:
            log.exception("run could not be recorded as failed", error=str(second))
        ended = RunFinished(run_id=self.run_id, status="failed", reason=reason)
        await self.run.publish(FINISHED, ended)
        self.context.stop()

    def summaries(self) -> list[StepSummary]:
        out = []
        for step in self.run.steps:
            totals = HostStats()
            for stats in (step.stats or {}).values():
                totals = HostStats(
                    **{k: getattr(totals, k) + int(stats.get(k, 0)) for k in HostStats.model_fields}
                )
            out.append(
                StepSummary(
                    playbook=step.playbook, status=step.status, hosts=step.hosts, stats=totals,
                    attempt=step.attempt, touched=tuple(step.stats or {}),
                    left_for_you=self.run.left_for_you.get(step.id, ()),
                )
            )  # fmt: skip
        return out

    async def milestone(self, name: str, subject: str, summary: RunFinished | None = None) -> None:
        if self.s.audit is None:
            return
        run = self.run
        try:
            record = await self.s.store.run(self.run_id)
            files: dict[str, Any] = {"request.md": f"# Request\n\n{shown(record.request)}\n"}
            if run.plan is not None:
                files["plan.json"] = {
                    "revision": run.revision, "plan_hash": run.plan_hash,
                    "plan": self.redacted_plan(),
                }  # fmt: skip
            if run.approval is not None:
                files["approval.json"] = {
                    k: str(v) if isinstance(v, uuid.UUID | dt.datetime) else v
                    for k, v in dataclasses.asdict(run.approval).items()
                }
            for step in run.steps:
                # Named as chiffon.audit.git_trail.step_file names them: from 01, as shown.
                path = f"steps/{step.position + 1:02d}-{step.playbook}-a{step.attempt}.json"
                files[path] = {
                    "status": step.status, "hosts": list(step.hosts), "stats": step.stats,
                    "reason": step.reason,
                    # What the audit proves: the hosts approved are the hosts Ansible ran on.
                    "hosts_approved": list(step.hosts), "hosts_run": list(step.stats or {}),
                }  # fmt: skip
            if summary is not None:
                files["summary.json"] = json.loads(summary.model_dump_json())
            await self.s.audit.milestone(record, name, files, subject)
        except Exception as exc:  # the database holds the record; the trail is a copy
            log.warning("audit trail not written", milestone=name, error=str(exc))

    def redacted_plan(self) -> dict[str, Any]:
        assert self.run.plan is not None
        data = self.run.plan.model_dump(mode="json")
        for step in data["steps"]:
            declared = self.s.catalog.entries[step["playbook"]].variables
            for name in step["variables"]:
                if name in declared and declared[name].secret:
                    step["variables"][name] = "***"
        return data

    def cause(self) -> uuid.UUID:
        envelope = self.context.envelope
        assert envelope is not None
        return uuid.UUID(int=envelope.id)

    async def on_stop(self) -> None:
        if self.unwatch is not None:
            self.unwatch()
        if self.run.status in STOPPED_WITH_ITS_PROCESS:
            await self.interrupted_by_stop()

    async def interrupted_by_stop(self) -> None:
        """The process is stopping (Ctrl-C, a shutdown) with this run under way: record it
        ``interrupted`` now, with what its local agents were running — not left ``running``
        until a resume or the next start-up's reconciliation says so. An attempt out on a
        remote agent stays as it is: a resume asks that agent what became of it."""
        run = self.run
        reason = "stopped with the process driving it (Ctrl-C, or a shutdown)"
        try:
            for step in list(run.steps):
                if step.status in IN_FLIGHT and (
                    step.agent is None or step.agent in self.s.local_agents
                ):
                    await self.s.store.transition_step(
                        step.id, step.status, "interrupted", message_id=None, reason=reason
                    )
                    run.replace(step, status="interrupted", reason=reason)
            await run.move("interrupted", None, reason=reason)
            summary = RunFinished(
                run_id=self.run_id, status="interrupted", steps=tuple(self.summaries()),
                seconds=round(time.monotonic() - self.started, 3), reason=reason,
            )  # fmt: skip
            await self.milestone("interrupted", reason, summary)
            await run.publish(FINISHED, summary)
        except Exception as exc:  # start-up reconciliation records it instead
            log.warning("run not recorded as interrupted", run_id=str(self.run_id), error=str(exc))
