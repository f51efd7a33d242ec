"""``suggestions``: what a check of the playbooks found, and what became of it.

A suggestion is ``open`` until someone ``accept``s it (its diff committed on a branch of the
playbook repository: ``branch`` and ``commit`` say where), ``dismiss``es it, or a later check
no longer finds it (``implemented``). ``fingerprint`` (catalog, rule, entry, file, what was
found; not the line) keeps a re-check from adding a second live suggestion for the same
finding: at most one row per fingerprint is open, accepted or dismissed. Ids are small
integers because people type them (``chiffon playbooks accept 12``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    Uuid,
    text,
)

from chiffon.database import metadata

STATUSES = ("open", "accepted", "dismissed", "implemented")
LIVE = ("open", "accepted", "dismissed")
SOURCES = ("chiffon", "ansible-lint")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


suggestions = Table(
    "suggestions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("catalog", Text, nullable=False, comment="The catalog directory, resolved."),
    Column("entry", Text, nullable=True, comment="Catalog entry id; NULL for shared files."),
    Column("rule", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("path", Text, nullable=False, comment="Relative to the catalog directory."),
    Column("line", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("why", Text, nullable=False),
    Column("fix", Text, nullable=False),
    Column("diff", Text, nullable=True, comment="Unified diff, paths relative to the catalog."),
    Column("status", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("run_id", Uuid(as_uuid=True), nullable=True, comment="The run whose review found it."),
    Column("branch", Text, nullable=True),
    Column("commit", Text, nullable=True),
    CheckConstraint(_in("status", STATUSES), name="status"),
    CheckConstraint(_in("source", SOURCES), name="source"),
    Index(
        "uq_suggestions_live_fingerprint",
        "fingerprint",
        unique=True,
        postgresql_where=text(_in("status", LIVE)),
    ),
    Index("ix_suggestions_catalog_status", "catalog", "status"),
    comment="Improvements a check of the playbooks suggested, and what became of each.",
)
