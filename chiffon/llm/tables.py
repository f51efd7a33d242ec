"""``llm_calls``: every model call, with tokens, latency and cost."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, Table, Text, Uuid

from chiffon.database import metadata

llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("run_id", Uuid(as_uuid=True), nullable=True),
    Column("purpose", Text, nullable=False, comment="plan, repair, …"),
    Column("model", Text, nullable=False),
    Column("route", Text, nullable=False, comment="local or external, and why."),
    Column("ok", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Column("prompt_tokens", Integer, nullable=False, server_default="0"),
    Column("completion_tokens", Integer, nullable=False, server_default="0"),
    Column("latency_ms", Float, nullable=False),
    Column("cost_usd", Float, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_llm_calls_run_id", "run_id"),
    comment="Model calls; cost from LiteLLM's cost map (0 for local models).",
)
