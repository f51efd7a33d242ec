"""Suggestions in PostgreSQL, through the ``Database`` port: record a check's findings,
list, fetch, and move a suggestion from one status to another."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert

from chiffon.database import Database
from chiffon.playbooks.errors import SuggestionNotFound, SuggestionNotOpen
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.tables import LIVE, STATUSES, suggestions


@dataclasses.dataclass(frozen=True, slots=True)
class Suggestion:
    """A stored suggestion (the ``suggestions`` row)."""

    id: int
    created_at: dt.datetime
    updated_at: dt.datetime
    catalog: str
    entry: str | None
    rule: str
    source: str
    severity: str
    path: str
    line: int
    message: str
    why: str
    fix: str
    diff: str | None
    status: str
    fingerprint: str
    run_id: uuid.UUID | None
    branch: str | None
    commit: str | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Suggestion:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict: what ``--json`` prints."""
        data = dataclasses.asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        data["run_id"] = str(self.run_id) if self.run_id else None
        return data


@dataclasses.dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a check changed: ids of suggestions opened by it, ids of those still
    open from before (their line, text and diff refreshed), and ids now implemented."""

    opened: tuple[int, ...]
    kept: tuple[int, ...]
    implemented: tuple[int, ...]


LIVE_CONDITION = text("status IN ('open', 'accepted', 'dismissed')")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def record_check(
    db: Database,
    *,
    catalog: str,
    findings: Sequence[Finding],
    entries: Collection[str],
    shared: bool,
    sources: Collection[str],
    run_id: uuid.UUID | None = None,
) -> Recorded:
    """Store a check's ``findings`` for ``catalog`` in one transaction.

    A finding whose fingerprint has an open suggestion refreshes it; one that is accepted or
    dismissed is left alone; any other becomes a new open suggestion. The suggestions of the
    checked scope (``entries``, plus the shared files when ``shared``) and ``sources`` (a
    source that could not run is left out) that are open or accepted and were not found
    again become ``implemented``. Raises what the ``Database`` raises.
    """
    at = _now()
    by_print = {f.fingerprint(catalog): f for f in findings}
    async with db.transaction() as tx:
        rows = await tx.fetch(
            select(suggestions.c.id, suggestions.c.fingerprint, suggestions.c.status).where(
                suggestions.c.catalog == catalog, suggestions.c.status.in_(LIVE)
            )
        )
        live = {row["fingerprint"]: row for row in rows}
        opened: list[int] = []
        kept: list[int] = []
        for fingerprint, finding in by_print.items():
            values = _values(finding)
            statement = (
                insert(suggestions)
                .values(
                    created_at=at,
                    updated_at=at,
                    catalog=catalog,
                    status="open",
                    fingerprint=fingerprint,
                    run_id=run_id,
                    **values,
                )
                .on_conflict_do_update(
                    index_elements=[suggestions.c.fingerprint],
                    # Literal, not bound: PostgreSQL matches a partial index by its text.
                    index_where=LIVE_CONDITION,
                    set_={**values, "updated_at": at},
                    where=suggestions.c.status == "open",
                )
                .returning(suggestions.c.id)
            )
            row = await tx.fetch_one(statement)
            if fingerprint not in live:
                if row is not None:
                    opened.append(int(row["id"]))
            elif live[fingerprint]["status"] == "open":
                kept.append(int(live[fingerprint]["id"]))
        scope = [suggestions.c.entry.in_(list(entries))] if entries else []
        if shared:
            scope.append(suggestions.c.entry.is_(None))
        implemented: list[int] = []
        if scope:
            gone = await tx.fetch(
                update(suggestions)
                .where(
                    suggestions.c.catalog == catalog,
                    suggestions.c.status.in_(("open", "accepted")),
                    suggestions.c.source.in_(list(sources)),
                    or_(*scope),
                    suggestions.c.fingerprint.not_in(list(by_print)),
                )
                .values(status="implemented", updated_at=at)
                .returning(suggestions.c.id)
            )
            implemented = [int(r["id"]) for r in gone]
    return Recorded(tuple(opened), tuple(kept), tuple(implemented))


def _values(finding: Finding) -> dict[str, Any]:
    return {
        "entry": finding.entry,
        "rule": finding.rule,
        "source": finding.source,
        "severity": finding.severity,
        "path": finding.path,
        "line": finding.line,
        "message": finding.message,
        "why": finding.why,
        "fix": finding.fix,
        "diff": finding.diff,
    }


async def list_suggestions(
    db: Database,
    *,
    catalog: str | None = None,
    status: Collection[str] | None = None,
    entries: Collection[str] | None = None,
    paths: Collection[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Suggestion]:
    """Suggestions, by catalog, file and line: of ``catalog``, in one of ``status``, about
    one of ``entries`` and the shared files (those of ``paths`` only, when given); from
    ``offset``, at most ``limit`` (every one when ``None``). Raises ``ValueError`` for a
    status that does not exist."""
    query = _filtered(select(suggestions), catalog, status, entries, paths)
    query = query.order_by(
        suggestions.c.catalog, suggestions.c.path, suggestions.c.line, suggestions.c.id
    ).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [Suggestion.of(row) for row in await db.fetch(query)]


async def count_suggestions(
    db: Database,
    *,
    catalog: str | None = None,
    status: Collection[str] | None = None,
    entries: Collection[str] | None = None,
    paths: Collection[str] | None = None,
) -> int:
    """How many suggestions ``list_suggestions`` would list with no limit."""
    counted = select(func.count().label("n")).select_from(suggestions)
    row = await db.fetch_one(_filtered(counted, catalog, status, entries, paths))
    return int(row["n"]) if row is not None else 0


def _filtered(
    query: Any,
    catalog: str | None,
    status: Collection[str] | None,
    entries: Collection[str] | None,
    paths: Collection[str] | None,
) -> Any:
    if catalog is not None:
        query = query.where(suggestions.c.catalog == catalog)
    if status:
        unknown = set(status) - set(STATUSES)
        if unknown:
            raise ValueError(f"no such status: {', '.join(sorted(unknown))}")
        query = query.where(suggestions.c.status.in_(list(status)))
    if entries is not None:
        shared: ColumnElement[bool] = suggestions.c.entry.is_(None)
        if paths is not None:
            shared = and_(shared, suggestions.c.path.in_(list(paths)))
        query = query.where(or_(suggestions.c.entry.in_(list(entries)), shared))
    return query


async def get_suggestion(db: Database, suggestion_id: int) -> Suggestion:
    """One suggestion. Raises ``SuggestionNotFound``."""
    row = await db.fetch_one(select(suggestions).where(suggestions.c.id == suggestion_id))
    if row is None:
        raise SuggestionNotFound(suggestion_id)
    return Suggestion.of(row)


async def change_status(
    db: Database,
    suggestion_id: int,
    status: str,
    *,
    branch: str | None = None,
    commit: str | None = None,
) -> Suggestion:
    """Move an open suggestion to ``status`` (accepted, with its branch and commit, or
    dismissed). Raises ``SuggestionNotFound`` and ``SuggestionNotOpen`` (it is accepted,
    dismissed or implemented already, or changed at the same time)."""
    row = await db.fetch_one(
        update(suggestions)
        .where(and_(suggestions.c.id == suggestion_id, suggestions.c.status == "open"))
        .values(status=status, branch=branch, commit=commit, updated_at=func.now())
        .returning(*suggestions.c)
    )
    if row is None:
        current = await get_suggestion(db, suggestion_id)
        raise SuggestionNotOpen(suggestion_id, current.status)
    return Suggestion.of(row)
