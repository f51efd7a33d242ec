"""Remote agents: the ``agents`` registry and the ``dead_letters`` record.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column(
            "capabilities",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column(
            "resources",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
            comment="Latest sample.",
        ),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "address",
            sa.Text(),
            nullable=False,
            comment="Where it is reached: local, or its queue.",
        ),
        sa.Column("heartbeat_interval_s", sa.Float(), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offline_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('online', 'offline')", name=op.f("ck_agents_status")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_agents")),
        comment="Agents as the orchestrator last heard of them; offline after missed heartbeats.",
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "queue", sa.Text(), nullable=False, comment="The queue the message was refused on."
        ),
        sa.Column(
            "code", sa.Text(), nullable=False, comment="unsigned, forged, replayed, unknown_kind, …"
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("sender", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Text(), nullable=True, comment="The AMQP user that published it."),
        sa.Column("routing_key", sa.Text(), nullable=True),
        sa.Column(
            "headers",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "body", sa.LargeBinary(), nullable=False, comment="The first 64 KiB of the body."
        ),
        sa.Column("body_size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        comment="Messages refused by a consumer (bad signature, kind, version, body, size), kept.",
    )
    op.create_index("ix_dead_letters_at", "dead_letters", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dead_letters_at", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_table("agents")
