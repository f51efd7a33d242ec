"""What the application layer returns: typed, frozen, JSON-serialisable records that every
channel (the CLI, the HTTP API, the dashboard) renders as it likes, so no two disagree.

Secrets stay hidden here: plan variables declared secret are ``***``, and the request text is
what the store holds (with the secrets the planner extracted already redacted from it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from chiffon.audit.records import FailureRecord, LlmCallRecord, StepRecord, TimelineEvent
from chiffon.protocol import Plan

T = TypeVar("T")

Decision = Literal["approve", "reject", "modify"]
"""What a person may decide on a plan (``expired`` is the run's own, when nobody did)."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Page(_Record, Generic[T]):
    """One page of a listing; ``next_cursor`` (opaque) asks for the next, ``None`` at the
    end."""

    items: list[T]
    next_cursor: str | None = None


class RunFilters(_Record):
    """Which runs ``Runs.list`` returns; every field optional, all of them must hold."""

    status: tuple[str, ...] = ()
    """Any of these states (none: every state)."""
    since: dt.datetime | None = None
    """Created at or after."""
    until: dt.datetime | None = None
    """Created before."""
    service: str | None = None
    host: str | None = None
    """Its current plan targets this host (or group) by name."""
    playbook: str | None = None
    """Its current plan runs this catalog entry."""
    approver: str | None = None
    """Someone of this name decided on one of its plans."""


class RunSummary(_Record):
    """One line of a run listing."""

    id: uuid.UUID
    request: str
    status: str
    why_waiting: str | None = Field(
        description="What the run waits for (an approval, capacity, a resume), or None."
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    requested_by: str
    services: tuple[str, ...]
    hosts: tuple[str, ...]
    reason: str | None = None
    """Why it is in its state, when that says something (the failure, who rejected it)."""


class PlannedStep(_Record):
    """One step of a plan revision as people see it: secret variables are ``***``."""

    playbook: str
    hosts: tuple[str, ...]
    variables: dict[str, Any]
    reason: str = ""


class PlanRevision(_Record):
    """One plan a run proposed (a modify adds a revision)."""

    revision: int
    plan_hash: str
    steps: tuple[PlannedStep, ...]
    summary: str
    risk: str
    confidence: float
    planner: str
    feedback: str | None
    """The feedback that led to it (a modify), if any."""
    dry_run: tuple[str, ...] = ()
    """Each step's check-mode diff, when one was made for the proposal."""
    created_at: dt.datetime


class PendingApproval(_Record):
    """The plan awaiting a decision: decide on exactly this revision and hash, before
    ``expires_at``."""

    revision: int
    plan_hash: str
    expires_at: dt.datetime


class DecisionRecord(_Record):
    """A decision on a plan: who, through which channel, what, when."""

    run_id: uuid.UUID
    revision: int | None
    plan_hash: str
    decision: str
    by: str
    channel: str
    feedback: str | None
    at: dt.datetime
    valid_until: dt.datetime | None = None
    """An approval's end: steps not dispatched by then are not run under it."""


class RunDescription(_Record):
    """A run in full: what it was asked, every plan, the pending approval, every decision,
    the steps with their attempts, its timeline, its model calls and cost."""

    summary: RunSummary
    revisions: tuple[PlanRevision, ...]
    pending: PendingApproval | None
    decisions: tuple[DecisionRecord, ...]
    steps: tuple[StepRecord, ...]
    """Every attempt of every step, by position then attempt (agent, status, per-host
    stats)."""
    failures: tuple[FailureRecord, ...]
    transitions: tuple[TimelineEvent, ...]
    """Messages and state changes in time order."""
    model_calls: tuple[LlmCallRecord, ...]
    cost_usd: float
    planner: str
    high_value: bool
    budget_usd: float


class PlanPreview(_Record):
    """What a request would be planned as, without submitting it: the validated plan and its
    hash, or the question the planner needs answered, or why it cannot be planned."""

    status: Literal["planned", "needs_clarification", "invalid"]
    plan: Plan | None = None
    plan_hash: str | None = None
    question: str | None = None
    candidates: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
