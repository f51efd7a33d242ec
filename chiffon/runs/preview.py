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
    from pathlib import Path

    from chiffon.catalog import Catalog
    from chiffon.planning.planner import Planner
    from chiffon.protocol import Plan
    from chiffon.sealing import Sealer

DRY_RUN_FAILED = "the dry run failed"
"""How a step's preview text starts when ansible-playbook --check could not finish."""


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


async def check_offline(
    catalog: Catalog, plan: Plan, *, target_root: Path, work_dir: Path, output_cap: int,
    sealer: Sealer | None = None,
) -> tuple[str, ...]:  # fmt: skip
    """Each step's check-mode preview (``ansible-playbook --check --diff``, limited to the
    step's hosts), run here by an Ansible executor of this process, with no database or
    agents: the diff, ``no changes``, or why the dry run failed (``DRY_RUN_FAILED``)."""
    from chiffon.agents.infra.executor import AnsibleExecutor
    from chiffon.protocol import StepPreview

    executor = AnsibleExecutor(
        catalog, target_root=target_root, work_dir=work_dir, output_cap=output_cap
    )
    texts: list[str] = []
    for step in plan.steps:
        entry = catalog.entries[step.playbook]
        if entry.executor != "ansible":
            texts.append(f"no dry run: {entry.executor} steps only read, they change nothing")
            continue
        result = await executor.preview(
            StepPreview(
                playbook=step.playbook,
                hosts=step.hosts,
                # Sealed secrets are opened only here, to run (as an agent does).
                variables=sealer.open_values(step.variables) if sealer else step.variables,
                digest=step.digest,
            )
        )
        texts.append(result.text)
    return tuple(texts)


def dry_run_failed(texts: tuple[str, ...]) -> bool:
    """Whether any step's preview says its dry run failed or could not be had."""
    return any(text.startswith((DRY_RUN_FAILED, "dry run unavailable")) for text in texts)
