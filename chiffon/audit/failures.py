"""Failure records: where and why a step failed (step, host, task, error, output tail), kept
for post-mortems in the ``failures`` table."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, insert, select

from chiffon.actors import id_to_uuid, new_id
from chiffon.audit.filters import touches, within
from chiffon.audit.records import FailureRecord
from chiffon.audit.tables import failures
from chiffon.database import Database
from chiffon.protocol import StepFailure
from chiffon.run_records import runs

_COLUMNS = tuple(failures.c[name] for name in FailureRecord.model_fields)


async def record_failure(
    db: Database,
    *,
    run_id: uuid.UUID,
    step_id: uuid.UUID | None,
    attempt: int | None,
    playbook: str | None,
    failure: StepFailure,
    at: dt.datetime | None = None,
) -> uuid.UUID:
    """Store one failure of a step attempt and return its id (a UUIDv7: ids sort by time).

    ``failure`` comes from the agent with secrets already redacted; its error and output
    tail are stored as they are. Pass a transaction's ``Database`` to commit it together with
    the step's transition to ``failed``. Raises what the ``Database`` raises.
    """
    failure_id = id_to_uuid(new_id())
    await db.execute(
        insert(failures).values(
            id=failure_id,
            run_id=run_id,
            step_id=step_id,
            attempt=attempt,
            playbook=playbook,
            host=failure.host,
            task=failure.task,
            error=failure.error,
            output_tail=failure.output_tail,
            created_at=at if at is not None else func.now(),
        )
    )
    return failure_id


async def failures_of_run(db: Database, run_id: uuid.UUID) -> list[FailureRecord]:
    """A run's failure records, oldest first."""
    rows = await db.fetch(
        select(*_COLUMNS)
        .where(failures.c.run_id == run_id)
        .order_by(failures.c.created_at, failures.c.id)
    )
    return [FailureRecord.model_validate(dict(row)) for row in rows]


async def recent_failures(
    db: Database,
    *,
    since: dt.timedelta | None = None,
    service: str | None = None,
    limit: int = 50,
) -> list[FailureRecord]:
    """Failure records, newest first: made within ``since`` (by this machine's clock), of runs
    touching ``service``; at most ``limit``. "All failures in the last week" is
    ``recent_failures(db, since=timedelta(weeks=1))``."""
    query = select(*_COLUMNS)
    if since is not None:
        query = query.where(within(failures.c.created_at, since))
    if service is not None:
        touching = select(runs.c.id).where(touches(service))
        query = query.where(failures.c.run_id.in_(touching.scalar_subquery()))
    query = query.order_by(failures.c.created_at.desc(), failures.c.id.desc()).limit(limit)
    return [FailureRecord.model_validate(dict(row)) for row in await db.fetch(query)]
