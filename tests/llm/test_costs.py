"""llm_calls records and the per-run budget, in a real PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from chiffon.database import Database
from chiffon.llm.costs import CallRecord, CostRecorder, run_cost
from chiffon.llm.errors import BudgetExceeded

from .support import calls_of


def call(run_id: uuid.UUID | None, cost: float, *, ok: bool = True) -> CallRecord:
    return CallRecord(
        run_id=run_id,
        purpose="plan",
        model="openai/gpt-4o-mini",
        route="external: high-value",
        ok=ok,
        latency_ms=12.5,
        prompt_tokens=1000 if ok else 0,
        completion_tokens=100 if ok else 0,
        cost_usd=cost,
        error=None if ok else "model openai/gpt-4o-mini is unreachable: no answer within 2 s",
    )


async def test_a_runs_cost_is_the_sum_of_its_calls_failed_ones_included(
    database: Database,
) -> None:
    recorder = CostRecorder(database)
    run_id, other = uuid.uuid4(), uuid.uuid4()
    for record in (call(run_id, 0.01), call(run_id, 0.0, ok=False), call(run_id, 0.02)):
        await recorder.record(record)
    await recorder.record(call(other, 0.3))
    await recorder.record(call(None, 0.4))

    assert await run_cost(database, run_id) == pytest.approx(0.03)
    rows = await calls_of(database, run_id)
    assert [(r["ok"], r["cost_usd"], r["prompt_tokens"]) for r in rows] == [
        (True, 0.01, 1000),
        (False, 0.0, 0),
        (True, 0.02, 1000),
    ]
    assert rows[1]["error"] == "model openai/gpt-4o-mini is unreachable: no answer within 2 s"
    assert {r["route"] for r in rows} == {"external: high-value"}
    assert await run_cost(database, uuid.uuid4()) == 0.0


async def test_a_call_that_would_pass_the_budget_is_refused_naming_spent_and_budget(
    database: Database,
) -> None:
    recorder = CostRecorder(database)
    run_id = uuid.uuid4()
    await recorder.record(call(run_id, 0.45))

    await recorder.check_budget(run_id, "openai/gpt-4o-mini", 0.05, 0.50)
    with pytest.raises(
        BudgetExceeded,
        match=r"the run has spent \$0\.4500 of its \$0\.50 budget, and a call to "
        r"openai/gpt-4o-mini may cost up to \$0\.0600 more",
    ) as caught:
        await recorder.check_budget(run_id, "openai/gpt-4o-mini", 0.06, 0.50)
    assert caught.value.spent_usd == pytest.approx(0.45)
    assert caught.value.budget_usd == 0.50


async def test_a_free_call_passes_even_a_spent_budget(database: Database) -> None:
    recorder = CostRecorder(database)
    run_id = uuid.uuid4()
    await recorder.record(call(run_id, 0.75))

    await recorder.check_budget(run_id, "ollama_chat/llama3.1", 0.0, 0.50)


async def test_calls_outside_a_run_are_recorded_but_not_counted_against_a_budget(
    database: Database,
) -> None:
    recorder = CostRecorder(database)
    await recorder.record(call(None, 0.9))

    assert await recorder.spent(None) == 0.0
    await recorder.check_budget(None, "openai/gpt-4o-mini", 0.1, 0.50)
