"""Deciding on a plan, and cancelling a run, from any channel and any process.

A proposal is a pending row of ``approvals`` (``RunStore.open_proposal``). Deciding is one
transaction: the pending row becomes the decision ``WHERE decision = 'pending'`` and the
revision and hash match and its deadline has not passed, the run moves on from
``awaiting_approval``, and a ``decision`` event is written (and notified). So the first
decision wins; a later one finds the row decided and is told who decided what and when, and a
decision on a stale revision or after the deadline is refused with the reason. The process
driving the run hears the ``decision`` event (``EventLog``) and goes on from the state the
decision left. The run's own expiry timer decides ``expired`` the same way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import and_, update

from chiffon.errors import ChiffonError
from chiffon.orchestrator.errors import (
    AlreadyDecided,
    ApprovalExpired,
    IllegalTransition,
    InvalidDecision,
    NotAwaitingApproval,
    NotCancellable,
    RunEnded,
    StaleRevision,
)
from chiffon.orchestrator.event_log import EventLog
from chiffon.orchestrator.events import FINISHED
from chiffon.orchestrator.states import RUN_TERMINAL
from chiffon.orchestrator.store import ApprovalRecord, RunStore, now
from chiffon.ownership import is_alive
from chiffon.protocol import RunFinished
from chiffon.run_records import RunState, StepState, approvals

TO_STATE: dict[str, RunState] = {
    "approve": "approved", "reject": "rejected", "modify": "planning", "expired": "expired",
}  # fmt: skip
"""Where a decision takes a run awaiting approval."""

CANCEL_REQUESTED = "run.cancel"
"""The event asking the process driving a run to stop it (``data``: ``by``, ``channel``)."""


def decision_data(record: ApprovalRecord) -> dict[str, Any]:
    """A ``decision`` event's data."""
    return {
        "revision": record.revision, "plan_hash": record.plan_hash,
        "decision": record.decision, "by": record.approver, "channel": record.channel,
        "feedback": record.feedback, "at": record.decided_at.isoformat(),
        "valid_until": record.expires_at.isoformat() if record.decision == "approve" else None,
    }  # fmt: skip


async def decide(
    store: RunStore,
    events: EventLog,
    run_id: uuid.UUID,
    *,
    decision: str,
    revision: int,
    plan_hash: str,
    approver: str,
    channel: str,
    feedback: str | None = None,
    valid_for: dt.timedelta,
) -> ApprovalRecord:
    """Decide on the run's pending approval. Raises ``InvalidDecision``, ``StaleRevision``,
    ``ApprovalExpired``, ``AlreadyDecided``, ``RunEnded``, ``NotAwaitingApproval``,
    ``RunNotFound``."""
    if decision not in TO_STATE:
        raise InvalidDecision(f"{decision!r} is not a decision: approve, reject or modify")
    feedback = feedback.strip() if feedback else None
    if decision == "modify" and not feedback:
        raise InvalidDecision("a modify needs feedback: say what should change")
    async with store.db.transaction() as tx:
        record = await store.decide(
            run_id, revision=revision, plan_hash=plan_hash, decision=decision,
            approver=approver, channel=channel, feedback=feedback, valid_for=valid_for,
            to_state=TO_STATE[decision], db=tx,
        )  # fmt: skip
        event = None
        if record is not None:
            event = await events.insert(tx, run_id, "decision", decision_data(record))
    if record is None or event is None:
        raise await refusal(store, run_id, revision, plan_hash)
    events.publish(event)
    return record


async def refusal(
    store: RunStore, run_id: uuid.UUID, revision: int, plan_hash: str
) -> ChiffonError:
    """Why a decision on ``revision``/``plan_hash`` found nothing to decide."""
    pending = await store.pending(run_id)
    if pending is not None:
        if (pending.revision, pending.plan_hash) != (revision, plan_hash):
            return StaleRevision(revision, plan_hash, pending.revision, pending.plan_hash)
        if pending.respond_by <= now():
            return ApprovalExpired(revision, pending.respond_by)
    decided = [
        d for d in await store.decisions(run_id)
        if d.revision == revision or (d.revision is None and d.plan_hash == plan_hash)
    ]  # fmt: skip
    if decided:
        first = decided[0]
        return AlreadyDecided(first.approver, first.channel, first.decision, first.decided_at)
    run = await store.run(run_id)
    if run.status in RUN_TERMINAL:
        return RunEnded(run_id, run.status)
    if pending is not None:  # decided and rolled back under us: the caller may try again
        return NotAwaitingApproval(run_id, "being decided")
    return NotAwaitingApproval(run_id, run.status)


@dataclasses.dataclass(frozen=True, slots=True)
class Cancelled:
    """What ``cancel`` did: ``now`` when the run ended cancelled at once, else the process
    driving it was asked to stop it."""

    now: bool


async def cancel(
    store: RunStore, events: EventLog, run_id: uuid.UUID, *, by: str, channel: str
) -> Cancelled:
    """Cancel a run, in any state short of its end. Awaiting approval with its proposal
    open, it ends ``cancelled`` at once (the pending approval is decided ``cancelled``: a
    decision racing with it finds it decided). Driven by a live process, that process is
    asked to stop it (``run.cancel``): its step in flight is cancelled, the rest skipped, a
    proposal it opens meanwhile closed. Driven by nobody, it ends ``cancelled`` here. Raises
    ``RunEnded``, ``RunNotFound``."""
    reason = f"cancelled by {by}"
    for _ in range(3):
        run = await store.run(run_id)
        if run.status in RUN_TERMINAL:
            raise RunEnded(run_id, run.status)
        if run.status == "awaiting_approval":
            record = await cancel_pending(store, events, run_id, by=by, channel=channel)
            if record is not None:
                if not is_alive(run.owner):
                    await _finished(store, events, run_id, reason)
                return Cancelled(now=True)
            # No open proposal: the run turned awaiting_approval and its proposal is still
            # being made (the dry run), or a decision took it first. Neither ends the run.
            run = await store.run(run_id)
            if run.status in RUN_TERMINAL:
                raise RunEnded(run_id, run.status)
        if is_alive(run.owner):
            await events.append(run_id, CANCEL_REQUESTED, {"by": by, "channel": channel})
            return Cancelled(now=False)
        try:
            await _cancel_undriven(store, run.status, run_id, reason)
        except IllegalTransition:
            continue  # another process moved it meanwhile: look again
        await _finished(store, events, run_id, reason)
        return Cancelled(now=True)
    raise NotCancellable(run_id, "its state kept changing while it was being cancelled")


async def cancel_pending(
    store: RunStore, events: EventLog, run_id: uuid.UUID, *, by: str, channel: str
) -> ApprovalRecord | None:
    """Decide the run's pending approval ``cancelled`` and end the run ``cancelled``, in one
    transaction; ``None`` when it has no pending approval (none yet, or decided first)."""
    at = now()
    async with store.db.transaction() as tx:
        row = await tx.fetch_one(
            update(approvals)
            .where(and_(approvals.c.run_id == run_id, approvals.c.decision == "pending"))
            .values(decision="cancelled", approver=by, channel=channel, decided_at=at,
                    expires_at=at)
            .returning(*approvals.c)
        )  # fmt: skip
        if row is None:
            return None
        record = ApprovalRecord.of(row)
        await store.transition_run(
            run_id, "awaiting_approval", "cancelled", message_id=None,
            reason=f"cancelled by {by}", db=tx,
        )  # fmt: skip
        event = await events.insert(tx, run_id, "decision", decision_data(record))
    events.publish(event)
    return record


async def _cancel_undriven(
    store: RunStore, status: RunState, run_id: uuid.UUID, reason: str
) -> None:
    """Nobody drives the run (its process died): nothing runs, so it ends here."""
    for step in await store.steps(run_id):
        if step.status in ("pending", "dispatched", "running"):
            to_state: StepState = "skipped" if step.status == "pending" else "cancelled"
            await store.transition_step(
                step.id, step.status, to_state, message_id=None, reason=reason
            )
    await store.transition_run(run_id, status, "cancelled", message_id=None, reason=reason)


async def _finished(store: RunStore, events: EventLog, run_id: uuid.UUID, reason: str) -> None:
    summary = RunFinished(run_id=run_id, status="cancelled", reason=reason)
    await events.append(run_id, FINISHED, summary.model_dump(mode="json"))
