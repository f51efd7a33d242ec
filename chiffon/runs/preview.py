"""What a request would be planned as, without submitting it (``chiffon plan``, the API's
preview, and the plan ``chiffon run`` shows before the system is up)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chiffon.planning.errors import InvalidPlan
from chiffon.planning.planner import NeedsClarification, PlanRequest
from chiffon.planning.validation import validate_plan
from chiffon.protocol import plan_hash
from chiffon.runs.records import PlanPreview

if TYPE_CHECKING:
    from chiffon.catalog import Catalog
    from chiffon.planning.planner import Planner
    from chiffon.sealing import Sealer


async def preview_with(
    planner: Planner, catalog: Catalog, request: str, *, feedback: str | None = None,
    sealer: Sealer | None = None,
) -> PlanPreview:  # fmt: skip
    """Plan ``request`` (with ``feedback``: the answer to a question) and validate the plan.
    With a ``sealer``, the plan is the one a run would keep (``seal_plan``: its secrets
    sealed, its hash the run's). Raises what the planner raises when it cannot answer
    (``PlanningFailed``)."""
    try:
        outcome = await planner.plan(PlanRequest(text=request, feedback=feedback))
        if isinstance(outcome, NeedsClarification):
            return PlanPreview(
                status="needs_clarification", question=outcome.question,
                candidates=tuple(outcome.candidates),
            )  # fmt: skip
        plan = validate_plan(outcome, catalog)
        if sealer is not None:
            from chiffon.planning.sealing import seal_plan

            plan = seal_plan(plan, catalog, sealer)
    except InvalidPlan as exc:
        return PlanPreview(status="invalid", reasons=tuple(exc.reasons))
    return PlanPreview(status="planned", plan=plan, plan_hash=plan_hash(plan))


async def plan_offline(catalog: Catalog, request: str, sealer: Sealer | None = None) -> PlanPreview:
    """The catalog planner's preview: pure, no database, no model (a fraction of a
    millisecond), so a terminal shows the plan before anything else starts."""
    from chiffon.planning.catalog_planner import CatalogPlanner

    return await preview_with(CatalogPlanner(catalog), catalog, request, sealer=sealer)
