"""What the record says in figures, for ``/metrics``: runs by state, how long runs and steps
took (cumulative histogram buckets, as Prometheus wants them), dead letters by code, model
calls and their cost. Each figure is one aggregate query; none reads rows one by one."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Float, cast, extract, func, select

from chiffon.audit.tables import dead_letters
from chiffon.database import Database
from chiffon.llm.tables import llm_calls
from chiffon.run_records import runs, steps

RUN_BUCKETS_S = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
STEP_BUCKETS_S = (0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)


@dataclasses.dataclass(frozen=True, slots=True)
class Durations:
    """A cumulative histogram: ``buckets[i]`` counts the durations ``<= bounds[i]``."""

    bounds: tuple[float, ...]
    buckets: tuple[int, ...]
    count: int
    total_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class RecordStatistics:
    runs_by_status: dict[str, int]
    run_durations: Durations
    step_durations: Durations
    dead_letters_by_code: dict[str, int]
    model_calls: dict[tuple[str, bool], tuple[int, float]]
    """(model, ok) -> (calls, cost in USD)."""


async def record_statistics(db: Database) -> RecordStatistics:
    n = func.count().label("n")
    by_status = await db.fetch(select(runs.c.status, n).group_by(runs.c.status))
    dead = await db.fetch(select(dead_letters.c.code, n).group_by(dead_letters.c.code))
    cost = func.coalesce(func.sum(llm_calls.c.cost_usd), 0.0).label("cost")
    calls = await db.fetch(
        select(llm_calls.c.model, llm_calls.c.ok, n, cost)
        .group_by(llm_calls.c.model, llm_calls.c.ok)
    )  # fmt: skip
    run_seconds = extract("epoch", runs.c.finished_at - runs.c.created_at)
    step_seconds = extract("epoch", steps.c.finished_at - steps.c.started_at)
    return RecordStatistics(
        runs_by_status={row["status"]: row["n"] for row in by_status},
        run_durations=await _durations(db, run_seconds, runs.c.finished_at, RUN_BUCKETS_S),
        step_durations=await _durations(
            db, step_seconds, steps.c.finished_at, STEP_BUCKETS_S, steps.c.started_at
        ),
        dead_letters_by_code={row["code"]: row["n"] for row in dead},
        model_calls={(row["model"], row["ok"]): (row["n"], float(row["cost"])) for row in calls},
    )


async def _durations(
    db: Database, seconds: Any, finished: Any, bounds: Sequence[float], *also_set: Any
) -> Durations:
    value = cast(seconds, Float)
    columns = [func.count().filter(value <= bound).label(f"b{i}") for i, bound in enumerate(bounds)]
    query = select(
        *columns, func.count().label("n"), func.coalesce(func.sum(value), 0.0).label("total")
    ).where(finished.is_not(None), *(column.is_not(None) for column in also_set))
    row = await db.fetch_one(query)
    assert row is not None  # an aggregate without GROUP BY answers one row
    return Durations(
        bounds=tuple(bounds), buckets=tuple(int(row[f"b{i}"]) for i in range(len(bounds))),
        count=int(row["n"]), total_s=float(row["total"]),
    )  # fmt: skip
