"""The one run-id resolver: every entry point (``chiffon run --resume``, ``chiffon audit``,
``chiffon approve``, the HTTP API) turns what a person typed into a run id here.

A run id is accepted whole, or as a unique prefix of its 32 hexadecimal digits, with or
without its dashes, in any case — like git's abbreviated hashes. Only hexadecimal digits
(and dashes) are accepted, so ``%`` and ``_`` are never wildcards, and an empty prefix
names nothing rather than everything.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from chiffon.database import Database
from chiffon.orchestrator.errors import AmbiguousRunId, RunNotFound
from chiffon.run_records import runs

_HEX = frozenset("0123456789abcdef")


async def resolve_run_id(db: Database, text: str | uuid.UUID) -> uuid.UUID:
    """The id of the one run whose id is ``text`` or starts with it.

    Raises ``RunNotFound`` when the text is empty or not hexadecimal, or no run matches, and
    ``AmbiguousRunId`` (a ``RunNotFound``) when several do.
    """
    if isinstance(text, uuid.UUID):
        candidate: uuid.UUID | None = text
        prefix = text.hex
    else:
        prefix = text.strip().lower().replace("-", "")
        if not prefix or len(prefix) > 32 or not set(prefix) <= _HEX:
            raise RunNotFound(f"{text!r} is not a run id (1 to 32 hexadecimal digits)")
        candidate = uuid.UUID(prefix) if len(prefix) == 32 else None
    if candidate is not None:
        row = await db.fetch_one(select(runs.c.id).where(runs.c.id == candidate))
        if row is None:
            raise RunNotFound(f"no run has the id {candidate}")
        return candidate
    # uuid compares bytewise in PostgreSQL, so a prefix is a primary-key range: no LIKE, no
    # wildcards, and the index answers it.
    low, high = uuid.UUID(prefix.ljust(32, "0")), uuid.UUID(prefix.ljust(32, "f"))
    rows = await db.fetch(
        select(runs.c.id).where(runs.c.id.between(low, high)).order_by(runs.c.id).limit(6)
    )
    if not rows:
        raise RunNotFound(f"no run id starts with {text!r}")
    if len(rows) > 1:
        raise AmbiguousRunId(str(text), [str(r["id"]) for r in rows[:5]])
    return rows[0]["id"]  # type: ignore[no-any-return]
