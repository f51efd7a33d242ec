"""The run records' tables: runs, plans (one row per revision), approvals, steps. The
orchestrator writes them; audit and the playbook checks read them, so they live in a neutral
module that imports no domain package.

A run's and a step's ``status`` and ``version`` change together with a ``transitions`` row in
one transaction (``chiffon.orchestrator.store``); ``version`` is the entity's transition
counter, the ``seq`` of its latest transition. A step cannot be dispatched without an
approval of its run's plan hash that has not expired: a trigger (migration 0002) refuses it.
"""

from __future__ import annotations

from typing import Literal, get_args

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from chiffon.database import metadata

RunState = Literal[
    "received", "planning", "awaiting_approval", "approved", "rejected", "expired",
    "running", "paused", "succeeded", "failed", "cancelled", "interrupted",
]  # fmt: skip
"""A run's ``status`` (DESIGN.md's run state machine: ``chiffon.orchestrator.states``)."""
DECISIONS = ("approve", "reject", "modify", "expired", "pending", "cancelled")
"""What an approvals row says: a decision, or ``pending`` (a proposal awaiting one), or
``cancelled`` (the run was cancelled while it waited)."""
StepState = Literal[
    "pending", "dispatched", "running", "succeeded", "failed", "skipped", "cancelled",
    "interrupted",
]  # fmt: skip
"""A step attempt's ``status``."""
RUN_STATES: tuple[RunState, ...] = get_args(RunState)
STEP_STATES: tuple[StepState, ...] = get_args(StepState)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


runs = Table(
    "runs",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("request", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("planner", Text, nullable=False),
    Column("high_value", Boolean, nullable=False, server_default="false"),
    Column("budget_usd", Float, nullable=False),
    Column("cost_usd", Float, nullable=False, server_default="0"),
    Column("revision", Integer, nullable=False, server_default="0"),
    Column("plan_hash", Text, nullable=True),
    Column("services", ARRAY(Text), nullable=False, server_default="{}"),
    Column("owner", Text, nullable=True, comment="host:pid:start of the process driving it."),
    Column("reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column(
        "events",
        BigInteger,
        nullable=False,
        server_default="0",
        comment="The id of the run's last event in run_events.",
    ),
    CheckConstraint(_in("status", RUN_STATES), name="status"),
    Index("ix_runs_status_created_at", "status", "created_at"),
    Index("ix_runs_services", "services", postgresql_using="gin"),
    comment="One row per request: its state, current plan hash and cost.",
)

plans = Table(
    "plans",
    metadata,
    Column("run_id", Uuid(as_uuid=True), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("plan", JSONB, nullable=False),
    Column("plan_hash", Text, nullable=False),
    Column("feedback", Text, nullable=True, comment="The human's feedback that led to it."),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("run_id", "revision"),
    UniqueConstraint("run_id", "plan_hash", "revision"),
    comment="Every plan a run proposed; a modify round adds a revision.",
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("run_id", Uuid(as_uuid=True), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("plan_hash", Text, nullable=False),
    Column("decision", Text, nullable=False),
    Column("approver", Text, nullable=True),
    Column("channel", Text, nullable=True),
    Column("feedback", Text, nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("message_id", Uuid(as_uuid=True), nullable=True),
    Column("revision", Integer, nullable=True),
    Column(
        "respond_by",
        DateTime(timezone=True),
        nullable=True,
        comment="When the proposal expires without a decision.",
    ),
    CheckConstraint(_in("decision", DECISIONS), name="decision"),
    CheckConstraint(
        "decision = 'pending' OR (approver IS NOT NULL AND channel IS NOT NULL "
        "AND decided_at IS NOT NULL AND expires_at IS NOT NULL)",
        name="decided",
    ),
    Index("ix_approvals_run_id", "run_id"),
    Index(
        "ix_approvals_pending",
        "run_id",
        unique=True,
        postgresql_where=text("decision = 'pending'"),
    ),
    comment="Proposals awaiting a decision (pending: any channel may decide; the first decision "
    "wins) and decisions on plans: who, through what, on which plan hash, valid until when.",
)

run_events = Table(
    "run_events",
    metadata,
    Column(
        "run_id", Uuid(as_uuid=True), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("seq", BigInteger, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    comment="What each run told the world, in order: replayed to late watchers.",
)

steps = Table(
    "steps",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("run_id", Uuid(as_uuid=True), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("playbook", Text, nullable=False),
    Column("hosts", ARRAY(Text), nullable=False),
    Column("variables", JSONB, nullable=False),
    Column("digest", Text, nullable=False),
    Column("plan_hash", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("approval_id", Uuid(as_uuid=True), ForeignKey("approvals.id"), nullable=True),
    Column("agent", Text, nullable=True),
    Column("stats", JSONB, nullable=True),
    Column("reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(_in("status", STEP_STATES), name="status"),
    UniqueConstraint("run_id", "position", "attempt"),
    Index("ix_steps_playbook", "playbook"),
    comment="Each attempt of each planned step; a retry or resume is a new row (attempt + 1).",
)
