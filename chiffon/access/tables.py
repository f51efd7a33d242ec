"""The identity layer's tables: users, their tokens, browser sessions, refused attempts.

Secrets are never stored: a user's password as its argon2id hash, a token and a browser
session id as the SHA-256 of their random secret (high-entropy, so a fast hash is enough and a
request costs one lookup by primary key). A token's ``id`` is public (it is printed, listed,
recorded with approvals); its secret is shown once, when it is made.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Table,
    Text,
)

from chiffon.database import metadata

_SCOPE_CHECK = "scope IN ('read', 'run', 'approve', 'admin')"

users = Table(
    "users",
    metadata,
    Column("name", Text, primary_key=True),
    Column("password_hash", Text, nullable=False, comment="argon2id, in its PHC string form."),
    Column("scope", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(_SCOPE_CHECK, name="scope"),
    comment="People who log in to the dashboard or own tokens.",
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Text, primary_key=True, comment="Public id, part of the secret's text."),
    Column("user_name", Text, ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("scope", Text, nullable=False),
    Column("secret_hash", Text, nullable=False, comment="SHA-256 of the secret, hex."),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(_SCOPE_CHECK, name="scope"),
    Index("ix_tokens_user_name", "user_name"),
    comment="Bearer tokens for programs: revocable, optionally expiring, last use kept.",
)

browser_sessions = Table(
    "browser_sessions",
    metadata,
    Column("id_hash", Text, primary_key=True, comment="SHA-256 of the cookie value, hex."),
    Column("user_name", Text, ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_browser_sessions_expires_at", "expires_at"),
    comment="Logged-in browsers; the cookie holds the id, the page the CSRF token.",
)

refusals = Table(
    "refusals",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", Text, nullable=False, comment="e.g. approve, reject, modify."),
    Column("target", Text, nullable=True, comment="What it was aimed at, e.g. a run id."),
    Column("code", Text, nullable=False, comment="Why: the error code given in the answer."),
    Column("reason", Text, nullable=False),
    Column("user_name", Text, nullable=True),
    Column("token_id", Text, nullable=True),
    Column("channel", Text, nullable=False),
    Column("address", Text, nullable=True),
    Column("user_agent", Text, nullable=True),
    Index("ix_refusals_target", "target"),
    comment="Attempts that were refused (an approval without the scope, a stale revision).",
)
