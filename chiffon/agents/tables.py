"""``agents``: every agent that announced itself, its capabilities and its last resources."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, DateTime, Float, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from chiffon.database import metadata

agents = Table(
    "agents",
    metadata,
    Column("name", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("capabilities", JSONB, nullable=False, server_default="[]"),
    Column("resources", JSONB, nullable=False, server_default="{}", comment="Latest sample."),
    Column("status", Text, nullable=False),
    Column("address", Text, nullable=False, comment="Where it is reached: local, or its queue."),
    Column("heartbeat_interval_s", Float, nullable=False),
    Column("announced_at", DateTime(timezone=True), nullable=False),
    Column("last_heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("offline_at", DateTime(timezone=True), nullable=True),
    Column("offline_reason", Text, nullable=True),
    CheckConstraint("status IN ('online', 'offline')", name="status"),
    comment="Agents as the orchestrator last heard of them; offline after missed heartbeats.",
)
