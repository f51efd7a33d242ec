"""The domain, wired: catalog, planners, the agents' registry, the local agent, orchestrator,
audit trail.

In one process (no broker): the registry, one local agent named ``local`` (kind infra,
announcing itself to the registry like any agent) — and one more for each other executor the
catalog's entries name (``local-shell-check``) — and the orchestrator, whose runs route
every step through the registry. With a ``bridge`` (remote agents), no local agent is spawned:
the registry hears the remote ones, and ``discovery`` (a ref that reaches every agent) asks
them to announce themselves when it starts.

Called by ``chiffon.assembly.System`` (the composition root) once the store and the actor
system are up; it is a separate module so that ``import chiffon`` and ``chiffon --help`` load
none of it. Ownership: the actors it spawns belong to the system and stop with it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chiffon.actors import ActorRef, ActorSystem, LocalRef
from chiffon.catalog import Catalog, load_catalog
from chiffon.database import Database
from chiffon.orchestrator.event_log import EventLog
from chiffon.orchestrator.orchestrator import Orchestrator
from chiffon.orchestrator.services import RunServices
from chiffon.orchestrator.store import RunRecord, RunStore
from chiffon.ownership import this_process
from chiffon.planning.planner import Planner
from chiffon.protocol import Plan, StepFailure
from chiffon.sealing import Sealer, shown
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
    registry: LocalRef
    infra: LocalRef | None
    """The local agent (``local``), or ``None`` when the agents are remote."""


LOCAL_AGENT = "local"
"""The name of the agent an orchestrator process runs itself when it has no broker."""


class TrailSink:
    """The git trail as the orchestrator's ``AuditSink``."""

    def __init__(self, trail: GitTrail) -> None:
        self.trail = trail

    async def milestone(
        self, run: RunRecord, milestone: str, files: Mapping[str, Any], subject: str
    ) -> None:
        await self.trail.commit_milestone(
            run.id, milestone, files, status=run.status, services=run.services,  # type: ignore[arg-type]
            subject=f"{_short(shown(run.request))} — {subject}",
        )  # fmt: skip


def _short(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def planners(settings: Settings, catalog: Catalog, database: Database) -> Any:
    """``(choice, high_value) -> Planner``: ``catalog`` is the offline planner; ``llm`` needs a
    configured model; ``auto`` is the LLM planner when a model is configured, else catalog.
    Either way, a run's request naming a service the catalog lacks gets it generated and
    staged (the LLM planner's before the model is asked)."""
    from chiffon.planning.catalog_planner import CatalogPlanner
    from chiffon.planning.generating import GeneratingPlanner

    # A service the catalog lacks is generated under CHIFFON_HOME/generated/<run id>/.
    offline = CatalogPlanner(
        catalog,
        generated_dir=settings.home / "generated",
        lint_cache=settings.home / "cache" / "lint",
    )

    def planner_for(choice: str, high_value: bool) -> Planner:
        from chiffon.assembly.planners import model_configured

        # "auto" without a model is the catalog planner: this one, which generates.
        if choice == "catalog" or (choice == "auto" and not model_configured(settings)):
            return offline
        from chiffon.assembly.planners import planner_for as llm_planner_for

        model = llm_planner_for(settings, catalog, database, choice=choice, high_value=high_value)
        return GeneratingPlanner(model, offline)

    return planner_for


async def start_domain(
    settings: Settings,
    actors: ActorSystem,
    database: Database,
    journal: Journal,
    *,
    catalog: Catalog | Path | str,
    bridge: object | None = None,
    discovery: ActorRef | None = None,
    resume_taken: bool = False,
    events: EventLog | None = None,
) -> Domain:
    """Load the catalog, spawn the registry, the local agent (unless ``bridge`` is given:
    then the agents are remote) and the orchestrator (which reconciles runs left by stopped
    processes as it starts, and with ``resume_taken`` resumes those that were executing).
    Raises ``CatalogError``; ``StartFailed`` when the local agent cannot start."""
    from chiffon.agents.capacity import Requirement, requirement
    from chiffon.agents.kinds import other_local_kinds
    from chiffon.agents.registry import Registry
    from chiffon.agents.routing import preview_through
    from chiffon.assembly.agent import spawn_agent
    from chiffon.audit.failures import record_failure
    from chiffon.audit.git_trail import GitTrail
    from chiffon.llm.costs import run_cost
    from chiffon.playbooks.generation.staging import restore_staged

    if not isinstance(catalog, Catalog):
        catalog = load_catalog(catalog)
    events = events if events is not None else EventLog(database)
    # What runs awaiting approval generated before this process started.
    restore_staged(catalog, settings.home / "generated")
    registry = await actors.spawn(
        lambda: Registry(
            database, discovery=discovery, missed=settings.offline_after_missed,
            ask_timeout_s=settings.capacity_ask_timeout_s,
        ),
        name="registry",
    )  # fmt: skip
    infra = None
    local_agents = set()
    if bridge is None:
        infra = await spawn_agent(
            actors, name=LOCAL_AGENT, kind="infra", catalog=catalog, registry=registry,
            settings=settings, state_dir=settings.home / "agent" / LOCAL_AGENT,
            work_dir=settings.home / "work", journal=journal, actor_name="infra",
        )  # fmt: skip
        local_agents.add(LOCAL_AGENT)
        for kind in other_local_kinds(catalog, "infra"):
            name = f"{LOCAL_AGENT}-{kind.name}"
            await spawn_agent(
                actors, name=name, kind=kind.name, catalog=catalog, registry=registry,
                settings=settings, state_dir=settings.home / "agent" / name, journal=journal,
                hosts=("localhost", socket.gethostname()),
            )  # fmt: skip
            local_agents.add(name)
    loaded = catalog

    def requirement_of(playbook: str, hosts: Sequence[str]) -> Requirement:
        return requirement(loaded, playbook, hosts)

    async def preview(plan: Plan) -> tuple[str, ...]:
        return await preview_through(registry, plan, requirement_of, timeout=120.0)

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
        events=events,
        catalog=catalog,
        planner_for=planners(settings, catalog, database),
        registry=registry,
        approval_ttl=dt.timedelta(seconds=settings.approval_ttl_s),
        owner=this_process(),
        run_cost=cost,
        record_failure=failure,
        preview=preview,
        audit=TrailSink(GitTrail(settings.audit_repo_dir)),
        local_agents=frozenset(local_agents),
        capacity_wait_s=settings.capacity_wait_s,
        step_max_attempts=settings.step_max_attempts,
        agent_status_wait_s=settings.agent_status_wait_s,
        sealer=Sealer.from_file(settings.sealing_key_path),
    )
    orchestrator = await actors.spawn(
        lambda: Orchestrator(services, resume_taken=resume_taken), name="orchestrator"
    )
    return Domain(catalog, services, orchestrator, registry, infra)
