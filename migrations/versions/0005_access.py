"""Identity: ``users``, ``tokens``, ``browser_sessions`` and ``refusals``.

Revision ID: 0005_access
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_access"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SCOPE = "scope IN ('read', 'run', 'approve', 'admin')"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "password_hash", sa.Text(), nullable=False, comment="argon2id, in its PHC string form."
        ),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_SCOPE, name=op.f("ck_users_scope")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_users")),
        comment="People who log in to the dashboard or own tokens.",
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Text(), nullable=False, comment="Public id, part of the secret's text."),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False, comment="SHA-256 of the secret, hex."),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_SCOPE, name=op.f("ck_tokens_scope")),
        sa.ForeignKeyConstraint(
            ["user_name"],
            ["users.name"],
            name=op.f("fk_tokens_user_name_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        comment="Bearer tokens for programs: revocable, optionally expiring, last use kept.",
    )
    op.create_index("ix_tokens_user_name", "tokens", ["user_name"], unique=False)
    op.create_table(
        "browser_sessions",
        sa.Column(
            "id_hash", sa.Text(), nullable=False, comment="SHA-256 of the cookie value, hex."
        ),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_name"],
            ["users.name"],
            name=op.f("fk_browser_sessions_user_name_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_browser_sessions")),
        comment="Logged-in browsers; the cookie holds the id, the page the CSRF token.",
    )
    op.create_index(
        "ix_browser_sessions_expires_at", "browser_sessions", ["expires_at"], unique=False
    )
    op.create_table(
        "refusals",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.Text(), nullable=False, comment="e.g. approve, reject, modify."),
        sa.Column(
            "target", sa.Text(), nullable=True, comment="What it was aimed at, e.g. a run id."
        ),
        sa.Column(
            "code", sa.Text(), nullable=False, comment="Why: the error code given in the answer."
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("user_name", sa.Text(), nullable=True),
        sa.Column("token_id", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refusals")),
        comment="Attempts that were refused (an approval without the scope, a stale revision).",
    )
    op.create_index("ix_refusals_target", "refusals", ["target"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_refusals_target", table_name="refusals")
    op.drop_table("refusals")
    op.drop_index("ix_browser_sessions_expires_at", table_name="browser_sessions")
    op.drop_table("browser_sessions")
    op.drop_index("ix_tokens_user_name", table_name="tokens")
    op.drop_table("tokens")
    op.drop_table("users")
