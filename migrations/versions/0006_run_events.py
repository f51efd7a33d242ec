"""Runs tell the world: ``run_events``; approvals owned by the run (a pending approval is a
row any channel decides, the first decision wins).

- ``run_events``: every event of a run, numbered from 1 per run (``runs.events`` is the last
  number given; taking the next locks the run's row, so numbers follow commit order).
- ``approvals``: a proposal is a ``pending`` row (its ``revision``, and ``respond_by``, the
  deadline for a decision); deciding updates it ``WHERE decision = 'pending'``, so a second
  decision finds it decided. At most one pending row per run. ``cancelled``: the run was
  cancelled while it waited.

Revision ID: 0006_run_events
Revises: 0005_access
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_run_events"
down_revision: str | None = "0005_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECISIONS = "decision IN ('approve', 'reject', 'modify', 'expired', 'pending', 'cancelled')"
DECIDED = (
    "decision = 'pending' OR (approver IS NOT NULL AND channel IS NOT NULL "
    "AND decided_at IS NOT NULL AND expires_at IS NOT NULL)"
)


APPROVALS_COMMENT = (
    "Proposals awaiting a decision (pending: any channel may decide; the first decision wins) "
    "and decisions on plans: who, through what, on which plan hash, valid until when."
)


def upgrade() -> None:
    op.add_column(
        "runs",
        sa.Column(
            "events", sa.BigInteger(), server_default="0", nullable=False,
            comment="The id of the run's last event in run_events.",
        ),
    )  # fmt: skip
    op.create_table(
        "run_events",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_events_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_run_events")),
        comment="What each run told the world, in order: replayed to late watchers.",
    )
    op.add_column("approvals", sa.Column("revision", sa.Integer(), nullable=True))
    op.add_column(
        "approvals",
        sa.Column(
            "respond_by", sa.DateTime(timezone=True), nullable=True,
            comment="When the proposal expires without a decision.",
        ),
    )  # fmt: skip
    for name in ("approver", "channel", "decided_at", "expires_at"):
        op.alter_column("approvals", name, nullable=True)
    op.drop_constraint(op.f("ck_approvals_decision"), "approvals", type_="check")
    op.create_check_constraint(op.f("ck_approvals_decision"), "approvals", DECISIONS)
    op.create_check_constraint(op.f("ck_approvals_decided"), "approvals", DECIDED)
    op.create_index(
        "ix_approvals_pending", "approvals", ["run_id"], unique=True,
        postgresql_where=sa.text("decision = 'pending'"),
    )  # fmt: skip
    op.create_table_comment("approvals", APPROVALS_COMMENT)


def downgrade() -> None:
    op.create_table_comment(
        "approvals",
        "Decisions on plans: who, through what, on which plan hash, valid until when.",
    )
    op.drop_index("ix_approvals_pending", table_name="approvals")
    op.execute("DELETE FROM approvals WHERE decision IN ('pending', 'cancelled')")
    op.drop_constraint(op.f("ck_approvals_decided"), "approvals", type_="check")
    op.drop_constraint(op.f("ck_approvals_decision"), "approvals", type_="check")
    op.create_check_constraint(
        op.f("ck_approvals_decision"), "approvals",
        "decision IN ('approve', 'reject', 'modify', 'expired')",
    )  # fmt: skip
    for name in ("approver", "channel", "decided_at", "expires_at"):
        op.alter_column("approvals", name, nullable=False)
    op.drop_column("approvals", "respond_by")
    op.drop_column("approvals", "revision")
    op.drop_table("run_events")
    op.drop_column("runs", "events")
