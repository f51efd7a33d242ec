"""Playbook improvement suggestions: the ``suggestions`` table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suggestions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("catalog", sa.Text(), nullable=False, comment="The catalog directory, resolved."),
        sa.Column(
            "entry", sa.Text(), nullable=True, comment="Catalog entry id; NULL for shared files."
        ),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False, comment="Relative to the catalog directory."),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=False),
        sa.Column(
            "diff",
            sa.Text(),
            nullable=True,
            comment="Unified diff, paths relative to the catalog.",
        ),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True, comment="The run whose review found it."),
        sa.Column("branch", sa.Text(), nullable=True),
        sa.Column("commit", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'dismissed', 'implemented')",
            name=op.f("ck_suggestions_status"),
        ),
        sa.CheckConstraint(
            "source IN ('chiffon', 'ansible-lint')", name=op.f("ck_suggestions_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestions")),
        comment="Improvements a check of the playbooks suggested, and what became of each.",
    )
    op.create_index(
        "ix_suggestions_catalog_status", "suggestions", ["catalog", "status"], unique=False
    )
    op.create_index(
        "uq_suggestions_live_fingerprint",
        "suggestions",
        ["fingerprint"],
        unique=True,
        postgresql_where=sa.text("status IN ('open', 'accepted', 'dismissed')"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_suggestions_live_fingerprint",
        table_name="suggestions",
        postgresql_where=sa.text("status IN ('open', 'accepted', 'dismissed')"),
    )
    op.drop_index("ix_suggestions_catalog_status", table_name="suggestions")
    op.drop_table("suggestions")
