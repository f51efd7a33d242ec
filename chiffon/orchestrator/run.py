"""``RunActor``: one run, from request to plan, approval, execution and its end.

Message-driven: the run plans when started, proposes the plan (a pending approval any channel
may decide: ``chiffon.orchestrator.decisions``), and moves only when a message arrives — a
``PlanDecision`` once a decision is recorded (by any channel, in any process, or by its own
expiry timer), a ``StepOutput`` or ``StepResult`` from an agent, word from the agents'
registry (capacity, a lost agent), a request to cancel. Everything it tells the world is a
``RunEvent`` in the ``EventLog``. Steps go to agents through the registry
(``chiffon.orchestrator.execution``).
Each state change is written with the message that caused it (``RunStore``); every message
that changes its state was journaled before it arrived. A run that cannot go on (a database
outage, a planner failure) ends ``failed`` with the reason; one whose process dies is found
by start-up reconciliation and interrupted, then resumed (an attempt out on a remote agent is
asked after first).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import time
import uuid
from typing import Any

import structlog

from chiffon.actors import handler
from chiffon.agents.routing import QueryStep
from chiffon.errors import ChiffonError
from chiffon.orchestrator.decisions import CANCEL_REQUESTED, TO_STATE, cancel_pending, decide
from chiffon.orchestrator.event_log import Notice
from chiffon.orchestrator.events import FINISHED, RunEvent
from chiffon.orchestrator.execution import IN_FLIGHT, Execution
from chiffon.orchestrator.services import RunServices
from chiffon.orchestrator.store import ApprovalRecord, StepRecord, now
from chiffon.planning.errors import InvalidPlan, UnusablePlan
from chiffon.planning.planner import NeedsClarification, PlanRequest
from chiffon.planning.sealing import seal_plan
from chiffon.planning.validation import validate_plan
from chiffon.playbooks.generation.staging import discard_staged, install_staged
from chiffon.protocol import (
    HostStats,
    Plan,
    PlanDecision,
    PlanProposed,
    RunFinished,
    StepStatusQuery,
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


class RunActor(Execution):
    """Drives one run. Constructed by the ``Orchestrator``. Dispatching the steps and what
    comes back is ``Execution``'s half."""

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
        self.status = "received"
        self.revision = 0
        self.plan: Plan | None = None
        self.plan_hash: str | None = None
        self.approval: ApprovalRecord | None = None
        self.steps: list[StepRecord] = []  # the current attempt of each position
        self.started = time.monotonic()
        self.timer: asyncio.TimerHandle | None = None
        self.output_seen: set[uuid.UUID] = set()
        self.waits: dict[str, tuple[asyncio.TimerHandle, float]] = {}
        self.pause_reason: str | None = None
        self.awaiting: uuid.UUID | None = None
        self.unwatch: Any = None
        self.left_for_you: dict[uuid.UUID, tuple[str, ...]] = {}
        """What each finished attempt left for a person to do (``StepResult.left_for_you``)."""

    async def on_start(self) -> None:
        me = self.context.self_ref

        def heard(what: RunEvent | Notice) -> None:
            if what.kind in ("decision", CANCEL_REQUESTED) and me.is_alive:
                try:
                    me.tell_nowait(Heard(what.kind))
                except Exception as exc:  # a full mailbox: the next notice or resume tells
                    log.warning("run event not heard", run_id=str(self.run_id), error=str(exc))

        self.unwatch = self.s.events.watch(self.run_id, heard)

    # -- start and planning ----------------------------------------------------------------

    @handler(StartRun)
    async def on_start_run(self, message: StartRun) -> None:
        try:
            if message.resume:
                await self.resume(message.cause, propose_again=message.propose_again)
            else:
                await self.move("planning", message.cause)
                await self.propose(message.cause, feedback=None)
        except Exception as exc:
            await self.fail_run(exc, message.cause)

    async def propose(self, cause: uuid.UUID, feedback: str | None) -> None:
        """Plan, validate, store the revision, and propose it for a decision."""
        run = await self.s.store.run(self.run_id)
        planner = self.s.planner_for(self.planner_choice, self.high_value)
        sealer = self.s.sealer
        try:
            # The request is stored sealed; the planner reads what was typed.
            text = sealer.open_text(run.request) if sealer is not None else run.request
            outcome = await planner.plan(
                PlanRequest(
                    text=text, run_id=self.run_id, feedback=feedback, previous=self.plan,
                    high_value=self.high_value, budget_usd=self.budget_usd,
                )
            )  # fmt: skip
        except UnusablePlan as exc:  # an invalid plan, like any other: never shown
            await self.finish("rejected", cause, reason=str(exc))
            return
        if isinstance(outcome, NeedsClarification):
            await self.publish(
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
            plan = seal_plan(plan, self.s.catalog, sealer, request=run.request)
        digest = plan_hash(plan)
        self.revision = run.revision + 1
        services = sorted(
            {s for step in plan.steps for s in self.s.catalog.entries[step.playbook].services}
        )
        await self.s.store.add_plan(
            self.run_id, self.revision, plan, digest, services=services, feedback=feedback,
            message_id=cause,
        )  # fmt: skip
        self.status = "awaiting_approval"
        self.plan, self.plan_hash = plan, digest
        await self.publish(
            "plan.ready",
            {"revision": self.revision, "plan": plan.model_dump(mode="json"), "plan_hash": digest},
        )
        await self.send_proposal()

    async def send_proposal(self) -> None:
        plan, digest = self.proposed()
        dry_run: tuple[str, ...] = ()
        if self.dry_run and self.s.preview is not None:
            try:
                dry_run = await self.s.preview(plan)
            except Exception as exc:  # a preview is a courtesy: its failure is shown, not fatal
                dry_run = tuple(f"dry run unavailable: {exc}" for _ in plan.steps)
        ttl = self.s.approval_ttl
        proposal = PlanProposed(
            run_id=self.run_id, revision=self.revision, plan=plan,
            plan_hash=digest, expires_at=now() + ttl, dry_run=dry_run,
        )  # fmt: skip
        # The pending approval and the event that announces it commit together: whoever
        # sees the proposal can decide on it.
        store, events = self.s.store, self.s.events
        async with store.db.transaction() as tx:
            await store.open_proposal(
                self.run_id, self.revision, digest, proposal.expires_at, db=tx
            )
            event = await events.insert(
                tx, self.run_id, "plan.proposed", proposal.model_dump(mode="json")
            )
        events.publish(event)
        self.arm_timer(digest, ttl.total_seconds())

    def arm_timer(self, digest: str, seconds: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        me = self.context.self_ref

        def expire() -> None:
            if me.is_alive:
                me.tell_nowait(ApprovalTimeout(digest))

        self.timer = asyncio.get_running_loop().call_later(max(seconds, 0.0), expire)

    @handler(ApprovalTimeout)
    async def on_timeout(self, message: ApprovalTimeout) -> None:
        if self.status != "awaiting_approval" or message.plan_hash != self.plan_hash:
            return
        # Decided like any decision, with the timer as its channel; a person who decided
        # first wins, and their decision drives the run.
        try:
            await decide(
                self.s.store, self.s.events, self.run_id, decision="expired",
                revision=self.revision, plan_hash=message.plan_hash, approver="chiffon",
                channel="timer", valid_for=self.s.approval_ttl,
            )  # fmt: skip
        except ChiffonError as exc:
            log.info("expiry not recorded", run_id=str(self.run_id), reason=str(exc))
        except Exception as exc:
            await self.fail_run(exc, None)

    # -- decisions -------------------------------------------------------------------------

    @handler(Heard)
    async def on_heard(self, message: Heard) -> None:
        """A decision or a request to cancel was written: see what the store says."""
        try:
            if message.kind == CANCEL_REQUESTED:
                await self.cancel_requested()
                return
            if self.status != "awaiting_approval":
                return
            record = await self.decided()
            if record is None:
                return
            if record.decision == "cancelled":
                self.status = "cancelled"
                await self.skip_pending(uuid.uuid4(), f"cancelled by {record.approver}")
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
        except Exception as exc:
            await self.fail_run(exc, None)

    async def decided(self) -> ApprovalRecord | None:
        """The recorded decision on the current revision, if any."""
        mine = [d for d in await self.s.store.decisions(self.run_id) if d.revision == self.revision]
        return mine[-1] if mine else None

    @handler(PlanDecision)
    async def on_decision(self, message: PlanDecision) -> None:
        cause = self.cause()
        if self.status != "awaiting_approval" or message.plan_hash != self.plan_hash:
            log.info(
                "stale decision ignored", run_id=str(self.run_id), decision=message.decision,
                status=self.status,
            )  # fmt: skip
            return
        try:
            # Only a decision the store holds counts: it won the race, on this revision.
            record = await self.decided()
            if record is None or record.decision != message.decision:
                log.warning("unrecorded decision ignored", run_id=str(self.run_id))
                return
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.status = TO_STATE[record.decision]
            if record.decision == "approve":
                self.approval = record
                await self.milestone("approved", f"approved by {record.approver}")
                await self.move("running", cause)
                # A playbook generated for this plan joins the catalog once it is approved.
                await install_staged(self.s.catalog, self.approved()[0])
                await self.create_steps(cause)
                await self.dispatch_next(cause)
            elif record.decision == "modify":
                await self.propose(cause, feedback=record.feedback)
            else:
                reason = (
                    f"rejected by {record.approver}"
                    if record.decision == "reject"
                    else "no decision before the approval expired"
                )
                outcome: RunOutcome = "rejected" if record.decision == "reject" else "expired"
                await self.finish(outcome, cause, reason=reason, recorded=True)
        except Exception as exc:
            await self.fail_run(exc, cause)

    async def cancel_requested(self) -> None:
        """Someone asked to cancel the run: stop the attempt in flight, skip the rest, end
        ``cancelled``."""
        if self.status in ("succeeded", "failed", "rejected", "expired", "cancelled"):
            return
        events = await self.s.events.stored(self.run_id, after=0)
        asked = next((e for e in reversed(events) if e.kind == CANCEL_REQUESTED), None)
        by = asked.data.get("by", "someone") if asked is not None else "someone"
        channel = asked.data.get("channel", "api") if asked is not None else "api"
        reason = f"cancelled by {by}"
        cause = uuid.uuid4()
        if self.status == "awaiting_approval":
            # The proposal opened after the cancel was asked for: close it with the run, so
            # nobody can decide on a cancelled run's plan.
            store, log_ = self.s.store, self.s.events
            if await cancel_pending(store, log_, self.run_id, by=by, channel=channel):
                self.status = "cancelled"
                await self.skip_pending(cause, reason)
                await self.finish("cancelled", None, reason=reason, recorded=True)
                return
            if await self.decided() is not None:
                # A decision took it first: act on it, then on the cancel.
                await self.on_heard(Heard("decision"))
                await self.context.self_ref.tell(Heard(CANCEL_REQUESTED))
                return
        for step in list(self.steps):
            if step.status in IN_FLIGHT:
                await self.cancel_attempt(step, reason)
        await self.skip_pending(cause, reason)
        await self.finish("cancelled", None, reason=reason)

    # -- resuming --------------------------------------------------------------------------

    async def resume(self, cause: uuid.UUID, *, propose_again: bool = True) -> None:
        """Pick the run up from its stored state (DESIGN.md's recovery rules)."""
        run = await self.s.store.run(self.run_id)
        self.status = run.status
        self.revision = run.revision
        if run.revision:
            self.plan, self.plan_hash = await self.s.store.plan(self.run_id, run.revision)
        if run.status in ("received", "planning") or (
            run.status == "interrupted" and self.plan is None
        ):
            feedback = None
            if run.status == "planning":  # a modify decided while no process drove it
                record = await self.decided()
                feedback = record.feedback if record and record.decision == "modify" else None
            else:
                await self.move("planning", cause)
            await self.propose(cause, feedback=feedback)
            return
        if run.status == "awaiting_approval":
            pending = await self.s.store.pending(self.run_id)
            if propose_again or pending is None:
                await self.send_proposal()
            else:
                # Proposing again would extend its deadline and replace its check-mode diff:
                # the proposal stands, and expires when it was due.
                self.status = "awaiting_approval"
                self.arm_timer(pending.plan_hash, (pending.respond_by - now()).total_seconds())
            return
        assert self.plan_hash is not None
        self.approval = await self.s.store.latest_approval(self.run_id, self.plan_hash)
        attempts = await self.s.store.steps(self.run_id)
        latest: dict[int, StepRecord] = {}
        for step in attempts:
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
        self.steps = [latest[p] for p in sorted(latest)]
        for event in await self.s.events.stored(self.run_id, after=0):
            if event.kind == "step.result" and event.data.get("left_for_you"):
                step_id = uuid.UUID(str(event.data["step_id"]))
                self.left_for_you[step_id] = tuple(event.data["left_for_you"])
        if out is not None and out.agent is not None:
            # A remote agent may still run it, or have finished it: ask before anything else
            # (the answer, or the wait running out, goes on with ``proceed``).
            self.awaiting = out.id
            query = StepStatusQuery(run_id=self.run_id, step_id=out.id, attempt=out.attempt)
            wait = self.s.agent_status_wait_s
            await self.s.registry.tell(QueryStep(out.agent, query, wait))
            self.arm_wait(out.id, "status", wait)
            return
        await self.proceed(cause)

    async def proceed(self, cause: uuid.UUID) -> None:
        """The rest of a resume, once no attempt's fate is in doubt: under a valid approval,
        new attempts for what was interrupted and on with the steps; under an expired one,
        the plan proposed again."""
        approval_valid = self.approval is not None and self.approval.expires_at > now()
        if not approval_valid:
            # What was waiting under the expired approval never runs under it: a new approval
            # gives it a new attempt (create_steps).
            await self.skip_pending(cause, "not dispatched before its approval expired")
            if self.status != "interrupted":
                await self.move("interrupted", cause, reason="approval expired while stopped")
            await self.move("awaiting_approval", cause, reason="the approval expired: asking again")
            await self.send_proposal()
            return
        if self.status in ("approved", "interrupted", "paused"):
            await self.move("running", cause, reason="resumed")
        if any(s.status == "failed" for s in self.steps):
            await self.skip_pending(cause, "a step had failed before the resume")
            await self.finish("failed", cause, reason="a step had failed before the resume")
            return
        # An interrupted attempt is never run again as it was: it gets a new attempt row. A
        # position with no row yet (stopped between approval and dispatch) gets its first.
        # An attempt an agent still runs is waited for (dispatch_next sends nothing meanwhile).
        await install_staged(self.s.catalog, self.approved()[0])
        await self.create_steps(cause)
        await self.dispatch_next(cause)

    # -- the end ---------------------------------------------------------------------------

    async def finish(
        self, status: RunOutcome, cause: uuid.UUID | None, *, reason: str | None = None,
        recorded: bool = False,
    ) -> None:  # fmt: skip
        """Move to a terminal state (unless already there), record cost and the milestone,
        tell the world, stop."""
        if self.timer is not None:
            self.timer.cancel()
        for what in list(self.waits):
            self.cancel_wait(what)
        if status != "interrupted":  # a resumed run may still need what it generated
            await self.discard_generated()
        if not recorded and self.status != status:
            await self.move(status, cause, reason=reason)
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
        await self.publish(FINISHED, summary)
        self.context.stop()

    async def discard_generated(self) -> None:
        """Drop the playbooks generated for this run and not installed, with their files."""
        try:
            await discard_staged(self.s.catalog, str(self.run_id))
        except OSError as exc:  # leftover files cost disk space, never the run's outcome
            log.warning("generated files not removed", run_id=str(self.run_id), error=str(exc))

    async def fail_run(self, exc: BaseException, cause: uuid.UUID | None) -> None:
        """Something broke (planner, database): end the run failed, saying what broke."""
        reason = str(exc) if isinstance(exc, ChiffonError) else f"{type(exc).__name__}: {exc}"
        log.warning("run failed", run_id=str(self.run_id), error=reason)
        try:
            if self.status not in ("succeeded", "failed", "rejected", "expired", "cancelled"):
                await self.skip_pending(cause or uuid.uuid4(), reason)
                await self.finish("failed", cause, reason=reason)
                return
        except Exception as second:
            log.exception("run could not be recorded as failed", error=str(second))
        ended = RunFinished(run_id=self.run_id, status="failed", reason=reason)
        await self.publish(FINISHED, ended)
        self.context.stop()

    def summaries(self) -> list[StepSummary]:
        out = []
        for step in self.steps:
            totals = HostStats()
            for stats in (step.stats or {}).values():
                totals = HostStats(
                    **{k: getattr(totals, k) + int(stats.get(k, 0)) for k in HostStats.model_fields}
                )
            out.append(
                StepSummary(
                    playbook=step.playbook, status=step.status, hosts=step.hosts, stats=totals,
                    attempt=step.attempt, left_for_you=self.left_for_you.get(step.id, ()),
                )
            )  # fmt: skip
        return out

    async def milestone(self, name: str, subject: str, summary: RunFinished | None = None) -> None:
        if self.s.audit is None:
            return
        try:
            run = await self.s.store.run(self.run_id)
            files: dict[str, Any] = {"request.md": f"# Request\n\n{shown(run.request)}\n"}
            if self.plan is not None:
                files["plan.json"] = {
                    "revision": self.revision, "plan_hash": self.plan_hash,
                    "plan": self.redacted_plan(),
                }  # fmt: skip
            if self.approval is not None:
                files["approval.json"] = {
                    k: str(v) if isinstance(v, uuid.UUID | dt.datetime) else v
                    for k, v in dataclasses.asdict(self.approval).items()
                }
            for step in self.steps:
                # Named as chiffon.audit.git_trail.step_file names them: from 01, as shown.
                path = f"steps/{step.position + 1:02d}-{step.playbook}-a{step.attempt}.json"
                files[path] = {
                    "status": step.status, "hosts": list(step.hosts), "stats": step.stats,
                    "reason": step.reason,
                }  # fmt: skip
            if summary is not None:
                files["summary.json"] = json.loads(summary.model_dump_json())
            await self.s.audit.milestone(run, name, files, subject)
        except Exception as exc:  # the database holds the record; the trail is a copy
            log.warning("audit trail not written", milestone=name, error=str(exc))

    def redacted_plan(self) -> dict[str, Any]:
        assert self.plan is not None
        data = self.plan.model_dump(mode="json")
        for step in data["steps"]:
            declared = self.s.catalog.entries[step["playbook"]].variables
            for name in step["variables"]:
                if name in declared and declared[name].secret:
                    step["variables"][name] = "***"
        return data

    async def on_stop(self) -> None:
        if self.unwatch is not None:
            self.unwatch()
        if self.timer is not None:
            self.timer.cancel()
        for what in list(self.waits):
            self.cancel_wait(what)
        if self.status in STOPPED_WITH_ITS_PROCESS:
            await self.interrupted_by_stop()

    async def interrupted_by_stop(self) -> None:
        """The process is stopping (Ctrl-C, a shutdown) with this run under way: record it
        ``interrupted`` now, with what its local agents were running — not left ``running``
        until a resume or the next start-up's reconciliation says so. An attempt out on a
        remote agent stays as it is: a resume asks that agent what became of it."""
        reason = "stopped with the process driving it (Ctrl-C, or a shutdown)"
        try:
            for n, step in enumerate(self.steps):
                if step.status in IN_FLIGHT and (
                    step.agent is None or step.agent in self.s.local_agents
                ):
                    await self.s.store.transition_step(
                        step.id, step.status, "interrupted", message_id=None, reason=reason
                    )
                    self.steps[n] = dataclasses.replace(step, status="interrupted", reason=reason)
            await self.move("interrupted", None, reason=reason)
            summary = RunFinished(
                run_id=self.run_id, status="interrupted", steps=tuple(self.summaries()),
                seconds=round(time.monotonic() - self.started, 3), reason=reason,
            )  # fmt: skip
            await self.milestone("interrupted", reason, summary)
            await self.publish(FINISHED, summary)
        except Exception as exc:  # start-up reconciliation records it instead
            log.warning("run not recorded as interrupted", run_id=str(self.run_id), error=str(exc))
