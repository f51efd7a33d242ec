"""Model call records (``llm_calls``) and the per-run budget they are counted against.

Every call the router makes is recorded, answered or not: model, route, tokens, latency,
cost, and the error when it failed. A run's spending is the sum of its records' costs; before
each call that sum plus a conservative estimate of the call must stay within the run's budget.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from sqlalchemy import func, insert, select

from chiffon.actors import id_to_uuid, new_id
from chiffon.database import Database
from chiffon.llm.errors import BudgetExceeded
from chiffon.llm.tables import llm_calls

# Float sums of many small costs drift by far less than this; a call is not refused over it.
_SLACK_USD = 1e-9


@dataclasses.dataclass(frozen=True, slots=True)
class CallRecord:
    """One model call as ``llm_calls`` keeps it. ``route`` says which model and why
    (``local``, ``external: high-value``…); ``error`` is set when ``ok`` is false."""

    run_id: uuid.UUID | None
    purpose: str
    model: str
    route: str
    ok: bool
    latency_ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None


async def run_cost(database: Database, run_id: uuid.UUID) -> float:
    """What the run's recorded model calls cost, in US dollars (0 when it made none)."""
    row = await database.fetch_one(
        select(func.coalesce(func.sum(llm_calls.c.cost_usd), 0.0).label("spent")).where(
            llm_calls.c.run_id == run_id
        )
    )
    return float(row["spent"]) if row is not None else 0.0


class CostRecorder:
    """Writes ``llm_calls`` rows and enforces the per-run budget, through ``database``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def record(self, call: CallRecord) -> uuid.UUID:
        """Insert ``call`` and return its id. Raises what the database raises."""
        call_id = id_to_uuid(new_id())
        await self.database.execute(
            insert(llm_calls).values(
                id=call_id,
                run_id=call.run_id,
                purpose=call.purpose,
                model=call.model,
                route=call.route,
                ok=call.ok,
                error=call.error,
                prompt_tokens=call.prompt_tokens,
                completion_tokens=call.completion_tokens,
                latency_ms=call.latency_ms,
                cost_usd=call.cost_usd,
                created_at=datetime.datetime.now(datetime.UTC),
            )
        )
        return call_id

    async def spent(self, run_id: uuid.UUID | None) -> float:
        """The run's spending so far; 0 for calls outside a run (``run_id`` None), which are
        recorded but not summed."""
        return 0.0 if run_id is None else await run_cost(self.database, run_id)

    async def check_budget(
        self, run_id: uuid.UUID | None, model: str, estimate_usd: float, budget_usd: float
    ) -> None:
        """Return when the run's spending plus ``estimate_usd`` stays within ``budget_usd``.

        A free call (a local model, estimate 0) always passes, even on a spent budget: the
        budget caps money, not work. Raises ``BudgetExceeded``, naming spent and budget,
        otherwise.
        """
        if estimate_usd <= 0.0:
            return
        spent = await self.spent(run_id)
        if spent + estimate_usd > budget_usd + _SLACK_USD:
            raise BudgetExceeded(model, spent, estimate_usd, budget_usd)
