"""The runtime's tables: ``messages``, ``transitions`` and ``inbox``, on the shared MetaData.

The hot path does not go through SQLAlchemy: ``chiffon.journal.writer`` COPYs rows straight
into these tables with asyncpg. The Core tables are what Alembic migrates and what reads and
tests query, so the column order here is the order of ``writer.MESSAGE_COLUMNS``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from chiffon.database import metadata

messages = Table(
    "messages",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("sender", Text, nullable=True),
    Column("recipient", Text, nullable=False),
    Column("correlation_id", Uuid(as_uuid=True), nullable=True),
    Column("causation_id", Uuid(as_uuid=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("body", JSONB, nullable=False),
    Index("ix_messages_correlation_id", "correlation_id"),
    Index("ix_messages_created_at", "created_at"),
    # Messages about one run (its timeline, `chiffon audit show`), found by the run_id their
    # bodies carry; partial, so the runtime's other messages cost the index nothing.
    Index(
        "ix_messages_run_id",
        text("(body ->> 'run_id')"),
        postgresql_where=text("body ? 'run_id'"),
    ),
    comment="Every journaled envelope; ids are UUIDv7, so the primary key grows in time order.",
)

transitions = Table(
    "transitions",
    metadata,
    Column("entity_kind", Text, nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("from_state", Text, nullable=True),
    Column("to_state", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("message_id", Uuid(as_uuid=True), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("entity_kind", "entity_id", "seq"),
    comment="State changes; (entity_kind, entity_id, seq) is unique, so racing writers collide.",
)

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("message_id", Uuid(as_uuid=True), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("consumer", "message_id"),
    comment="Message ids a side-effecting consumer has processed: effectively-once handling.",
)
