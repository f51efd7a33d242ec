"""``failures``: a structured record of every failed step, for post-mortems."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, Table, Text, Uuid

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
