"""The database port: a small ``Database`` protocol and the shared SQLAlchemy ``MetaData``.

Domain packages declare their tables on ``metadata`` (in their own ``tables.py``) and reach
PostgreSQL only through ``Database``; ``chiffon.journal.postgres`` implements it with asyncpg.
This module imports SQLAlchemy Core and nothing else of Chiffon's layers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from sqlalchemy import BigInteger, DateTime, MetaData, Text, Uuid, column, table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import Executable

# Constraint names that Alembic autogenerate and hand-written migrations agree on.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# The runtime's ``messages`` and ``transitions`` as the domain reads and writes them. The journal
# owns and migrates these tables (``chiffon.journal.schema``), and the domain may not import
# the journal: these are lightweight table clauses, not on ``metadata``, so Alembic never sees
# them twice. The orchestrator writes a run's transitions in the transaction that changes its
# state; the audit reads both.
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


class Database(Protocol):
    """Run SQLAlchemy Core statements against PostgreSQL.

    Implementations compile each statement once per shape and cache it; rows come back as
    read-only mappings keyed by column name.
    """

    async def fetch(self, statement: Executable) -> Sequence[Mapping[str, Any]]:
        """Run a statement and return every row."""
        ...

    async def fetch_one(self, statement: Executable) -> Mapping[str, Any] | None:
        """Run a statement and return its first row, or ``None``."""
        ...

    async def execute(self, statement: Executable) -> None:
        """Run a statement for its effect."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Database]:
        """A transaction: statements through the yielded ``Database`` commit together."""
        ...

    def listen(
        self, channel: str, on_notify: Callable[[str], None]
    ) -> AbstractAsyncContextManager[None]:
        """While the context is open, call ``on_notify(payload)`` (on the event loop; it must
        not block) for every ``NOTIFY channel, payload`` committed by anyone; once entered,
        no later commit is missed. Sent with ``select(func.pg_notify(channel, payload))``
        inside the transaction it belongs to, so a notification means the commit happened."""
        ...
