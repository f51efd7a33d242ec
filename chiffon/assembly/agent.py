"""``spawn_agent``: one agent actor, configured from ``Settings``, for a ``chiffon agent``
process or an orchestrator's local agent. The registry it announces itself to may be local
or remote: the agent cannot tell."""

from __future__ import annotations

from pathlib import Path

from chiffon.actors import ActorRef, ActorSystem, Journal, LocalRef
from chiffon.agents.infra.actor import InfraAgent
from chiffon.agents.resources import FileSampler, Sampler, SystemSampler
from chiffon.catalog import Catalog
from chiffon.protocol import AgentKind
from chiffon.settings import Settings


def sampler_for(settings: Settings) -> Sampler:
    """``SystemSampler``, with ``CHIFFON_RESOURCE_FILE`` laid over it when set."""
    system = SystemSampler()
    if settings.resource_file is None:
        return system
    return FileSampler(settings.resource_file, system)


async def spawn_agent(
    actors: ActorSystem,
    *,
    name: str,
    kind: str | AgentKind,
    catalog: Catalog,
    registry: ActorRef | None,
    settings: Settings,
    state_dir: Path,
    actor_name: str | None = None,
    sampler: Sampler | None = None,
    work_dir: Path | None = None,
    journal: Journal | None = None,
) -> LocalRef:
    """Spawn agent ``name`` (``kind`` infra or desktop) as top-level actor ``actor_name``
    (default: ``name``); it announces itself to ``registry`` and heartbeats every
    ``settings.heartbeat_interval_s``. Its ledger is in ``state_dir``, its attempts' work
    directories in ``work_dir`` (default ``state_dir/work``), playbooks write under
    ``settings.target_root_dir``. ``sampler`` defaults to ``sampler_for(settings)``;
    ``journal``, when given, de-duplicates redelivered envelopes by id too.

    Raises ``ValueError`` for a kind other than infra or desktop; ``StartFailed`` (caused by
    ``LedgerUnavailable`` or ``ResourceFileInvalid``) when the agent cannot start.
    """
    if kind not in ("infra", "desktop"):
        raise ValueError(f"an agent's kind is infra or desktop, not {kind!r}")
    agent_kind: AgentKind = "desktop" if kind == "desktop" else "infra"
    chosen = sampler or sampler_for(settings)

    def agent() -> InfraAgent:
        return InfraAgent(
            catalog, target_root=settings.target_root_dir, work_dir=work_dir or state_dir / "work",
            output_cap=settings.output_cap_bytes, journal=journal, name=name, kind=agent_kind,
            state_dir=state_dir, sampler=chosen, registry=registry,
            heartbeat_interval_s=settings.heartbeat_interval_s,
        )  # fmt: skip

    return await actors.spawn(agent, name=actor_name or name)
