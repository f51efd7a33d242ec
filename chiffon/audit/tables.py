"""``failures``: every failed step, for post-mortems; ``dead_letters``: every message refused."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, Table, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB

from chiffon.database import metadata

failures = Table(
    "failures",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("run_id", Uuid(as_uuid=True), nullable=False),
    Column("step_id", Uuid(as_uuid=True), nullable=True),
    Column("attempt", Integer, nullable=True),
    Column("playbook", Text, nullable=True),
    Column("host", Text, nullable=True),
    Column("task", Text, nullable=True),
    Column("error", Text, nullable=False),
    Column("output_tail", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_failures_run_id", "run_id"),
    Index("ix_failures_created_at", "created_at"),
    comment="Where and why a step failed: step, host, task, error, the end of its output.",
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("queue", Text, nullable=False, comment="The queue the message was refused on."),
    Column("code", Text, nullable=False, comment="unsigned, forged, replayed, unknown_kind, …"),
    Column("reason", Text, nullable=False),
    Column("message_id", Text, nullable=True),
    Column("kind", Text, nullable=True),
    Column("sender", Text, nullable=True),
    Column("user_id", Text, nullable=True, comment="The AMQP user that published it."),
    Column(
        "reported_by",
        Text,
        nullable=True,
        comment="Who refused it, as the broker vouches: orchestrator, agent:<name>, "
        "user:<login>, or unverified (no user_id).",
    ),
    Column("routing_key", Text, nullable=True),
    Column("headers", JSONB, nullable=False, server_default="{}"),
    Column("body", LargeBinary, nullable=False, comment="The first 64 KiB of the body."),
    Column("body_size", Integer, nullable=False),
    Index("ix_dead_letters_at", "at"),
    comment="Messages refused by a consumer (bad signature, kind, version, body, size), kept.",
)
