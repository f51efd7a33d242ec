"""The domain, wired: catalog, planners, infra agent, orchestrator, audit trail.

Called by ``chiffon.assembly.System`` (the composition root) once the store and the actor
system are up; it is a separate module so that ``import chiffon`` and ``chiffon --help`` load
none of it. Ownership: the actors it spawns belong to the system and stop with it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chiffon.actors import ActorSystem, LocalRef
from chiffon.database import Database
from chiffon.orchestrator.orchestrator import Orchestrator
from chiffon.orchestrator.owner import this_process
from chiffon.orchestrator.services import RunServices
from chiffon.orchestrator.store import RunRecord, RunStore
from chiffon.planning.catalog import Catalog, load_catalog
from chiffon.planning.planner import Planner
from chiffon.protocol import Plan, StepFailure
from chiffon.settings import Settings

if TYPE_CHECKING:
    from chiffon.actors.journal import Journal
    from chiffon.audit.git_trail import GitTrail


@dataclasses.dataclass(slots=True)
class Domain:
    """The running domain: what ``System.run`` talks to."""

    catalog: Catalog
    services: RunServices
    orchestrator: LocalRef
    infra: LocalRef


class TrailSink:
    """The git trail as the orchestrator's ``AuditSink``."""

    def __init__(self, trail: GitTrail) -> None:
        self.trail = trail

    async def milestone(
        self, run: RunRecord, milestone: str, files: Mapping[str, Any], subject: str
    ) -> None:
        await self.trail.commit_milestone(
            run.id, milestone, files, status=run.status, services=run.services,  # type: ignore[arg-type]
            subject=f"{_short(run.request)} — {subject}",
        )  # fmt: skip


def _short(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def planners(settings: Settings, catalog: Catalog, database: Database) -> Any:
    """``(choice, high_value) -> Planner``: ``catalog`` is the offline planner; ``llm`` needs a
    configured model; ``auto`` is the LLM planner when a model is configured, else catalog."""
    from chiffon.planning.catalog_planner import CatalogPlanner

    # A service the catalog lacks is generated under CHIFFON_HOME/generated/<run id>/.
    offline = CatalogPlanner(
        catalog,
        generated_dir=settings.home / "generated",
        lint_cache=settings.home / "cache" / "lint",
    )

    def planner_for(choice: str, high_value: bool) -> Planner:
        from chiffon.llm.factory import model_configured

        # "auto" without a model is the catalog planner: this one, which generates.
        if choice == "catalog" or (choice == "auto" and not model_configured(settings)):
            return offline
        from chiffon.llm.factory import planner_for as llm_planner_for

        return llm_planner_for(settings, catalog, database, choice=choice, high_value=high_value)

    return planner_for


async def start_domain(
    settings: Settings,
    actors: ActorSystem,
    database: Database,
    journal: Journal,
    *,
    catalog: Catalog | Path | str,
) -> Domain:
    """Load the catalog, spawn the infra agent and the orchestrator (which reconciles runs
    left by stopped processes as it starts). Raises ``CatalogError``."""
    from chiffon.agents.infra.actor import InfraAgent
    from chiffon.audit.failures import record_failure
    from chiffon.audit.git_trail import GitTrail
    from chiffon.llm.costs import run_cost
    from chiffon.playbooks.generation.staging import restore_staged

    if not isinstance(catalog, Catalog):
        catalog = load_catalog(catalog)
    # What runs awaiting approval generated before this process started.
    restore_staged(catalog, settings.home / "generated")
    infra = await actors.spawn(
        InfraAgent, catalog, target_root=settings.target_root_dir,
        work_dir=settings.home / "work", output_cap=settings.output_cap_bytes,
        journal=journal, name="infra",
    )  # fmt: skip

    async def preview(plan: Plan) -> tuple[str, ...]:
        from chiffon.agents.infra.actor import preview_plan

        return await preview_plan(infra, plan, timeout=120.0)

    async def failure(
        *, run_id: uuid.UUID, step_id: uuid.UUID, attempt: int, playbook: str,
        failure: StepFailure,
    ) -> Any:  # fmt: skip
        return await record_failure(
            database, run_id=run_id, step_id=step_id, attempt=attempt, playbook=playbook,
            failure=failure,
        )  # fmt: skip

    async def cost(run_id: uuid.UUID) -> float:
        return await run_cost(database, run_id)

    services = RunServices(
        store=RunStore(database),
        catalog=catalog,
        planner_for=planners(settings, catalog, database),
        infra=infra,
        approval_ttl=dt.timedelta(seconds=settings.approval_ttl_s),
        owner=this_process(),
        run_cost=cost,
        record_failure=failure,
        preview=preview,
        audit=TrailSink(GitTrail(settings.audit_repo_dir)),
    )
    orchestrator = await actors.spawn(Orchestrator, services, name="orchestrator")
    return Domain(catalog, services, orchestrator, infra)
