"""``Runs.list``: runs by filters, newest first, a page at a time with a keyset cursor.

The cursor is the last row's ``(created_at, id)``, opaque to callers (URL-safe base64 of
JSON): the next page is the rows strictly older, so a page never repeats or skips a row while
new runs arrive. ``hosts`` and ``playbook`` look into the run's current plan (JSONB
containment, ``plans.plan @> {"steps": [{"hosts": [host]}]}``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, exists, func, literal_column, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from chiffon.audit.filters import touches
from chiffon.database import Database
from chiffon.errors import ChiffonError
from chiffon.run_records import approvals, plans, runs
from chiffon.runs.records import Page, RunFilters, RunSummary
from chiffon.sealing import shown

MAX_LIMIT = 500
_HOSTS: Any = literal_column("'$.steps[*].hosts[*]'::jsonpath")


class BadCursor(ChiffonError):
    """Raised when a listing's cursor is not one a listing handed out."""

    code = "bad_cursor"


def encode_cursor(created_at: dt.datetime, run_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(run_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, rid = json.loads(raw)
        return dt.datetime.fromisoformat(at), uuid.UUID(rid)
    except (ValueError, TypeError) as exc:
        raise BadCursor(f"{cursor!r} is not a cursor this listing gave") from exc


def why_waiting(status: str, reason: str | None) -> str | None:
    """What a run in ``status`` waits for, in words, or ``None`` when it waits for nothing."""
    if status == "awaiting_approval":
        return "a decision on its plan (approve, reject or modify)"
    if status == "paused":
        return reason or "an agent with the capacity for its next step"
    if status == "interrupted":
        return "a resume: chiffon run --resume"
    return None


def summary_of(row: Mapping[str, Any]) -> RunSummary:
    return RunSummary(
        id=row["id"], request=shown(row["request"]), status=row["status"],
        why_waiting=why_waiting(row["status"], row["reason"]), created_at=row["created_at"],
        updated_at=row["updated_at"], requested_by=row["requested_by"],
        services=tuple(row["services"] or ()), hosts=tuple(dict.fromkeys(row["hosts"] or ())),
        reason=row["reason"],
    )  # fmt: skip


def summaries_query() -> Any:
    """Runs with their current plan's hosts, as ``summary_of`` reads them. The hosts are
    picked out of the plan by the database: a listing of fifty would otherwise decode fifty
    whole plans for them."""
    current = and_(plans.c.run_id == runs.c.id, plans.c.revision == runs.c.revision)
    hosts = func.jsonb_path_query_array(plans.c.plan, _HOSTS, type_=JSONB).label("hosts")
    return select(
        runs.c.id, runs.c.request, runs.c.status, runs.c.reason, runs.c.created_at,
        runs.c.updated_at, runs.c.requested_by, runs.c.services, hosts,
    ).select_from(runs.outerjoin(plans, current))  # fmt: skip


async def list_runs(
    db: Database, filters: RunFilters, *, cursor: str | None, limit: int
) -> Page[RunSummary]:
    limit = max(1, min(limit, MAX_LIMIT))
    query = summaries_query()
    if filters.status:
        query = query.where(runs.c.status.in_(list(filters.status)))
    if filters.since is not None:
        query = query.where(runs.c.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(runs.c.created_at < filters.until)
    if filters.service is not None:
        query = query.where(touches(filters.service))
    if filters.host is not None:
        query = query.where(_plan_has({"steps": [{"hosts": [filters.host]}]}))
    if filters.playbook is not None:
        query = query.where(_plan_has({"steps": [{"playbook": filters.playbook}]}))
    if filters.approver is not None:
        query = query.where(
            exists().where(
                and_(approvals.c.run_id == runs.c.id, approvals.c.approver == filters.approver)
            )
        )
    if cursor is not None:
        at, rid = decode_cursor(cursor)
        query = query.where(
            or_(runs.c.created_at < at, and_(runs.c.created_at == at, runs.c.id < rid))
        )
    query = query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit + 1)
    rows = list(await db.fetch(query))
    more = len(rows) > limit
    items = [summary_of(row) for row in rows[:limit]]
    last = items[-1] if more else None
    return Page(
        items=items, next_cursor=None if last is None else encode_cursor(last.created_at, last.id)
    )


def _plan_has(fragment: dict[str, Any]) -> Any:
    return plans.c.plan.op("@>")(type_coerce(fragment, JSONB))
