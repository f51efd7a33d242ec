"""The runtime's ``messages`` and ``transitions``, as the audit reads them.

The journal owns these tables (``chiffon.journal.schema``) and the domain may not import the
journal, so the audit names the columns it reads as lightweight, read-only table clauses:
not on the shared MetaData, so Alembic and the migration test never see them twice.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, DateTime, Text, Uuid, column, table
from sqlalchemy.dialects.postgresql import JSONB

messages = table(
    "messages",
    column("id", Uuid(as_uuid=True)),
    column("kind", Text),
    column("sender", Text),
    column("recipient", Text),
    column("correlation_id", Uuid(as_uuid=True)),
    column("causation_id", Uuid(as_uuid=True)),
    column("created_at", DateTime(timezone=True)),
    column("body", JSONB),
)

transitions = table(
    "transitions",
    column("entity_kind", Text),
    column("entity_id", Text),
    column("seq", BigInteger),
    column("from_state", Text),
    column("to_state", Text),
    column("reason", Text),
    column("message_id", Uuid(as_uuid=True)),
    column("at", DateTime(timezone=True)),
)
