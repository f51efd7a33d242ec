"""``spawn_agent``: one agent actor, configured from ``Settings``, for a ``chiffon agent``
process or an orchestrator's local agent. The registry it announces itself to may be local
or remote: the agent cannot tell."""

from __future__ import annotations

import socket
from pathlib import Path

from chiffon.actors import ActorRef, ActorSystem, Journal, LocalRef
from chiffon.agents.core import Agent
from chiffon.agents.kinds import Workplace, executor_for, kind_named
from chiffon.agents.resources import FileSampler, Sampler, SystemSampler
from chiffon.catalog import Catalog
from chiffon.sealing import Sealer
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
    kind: str,
    catalog: Catalog,
    registry: ActorRef | None,
    settings: Settings,
    state_dir: Path,
    actor_name: str | None = None,
    sampler: Sampler | None = None,
    work_dir: Path | None = None,
    journal: Journal | None = None,
    hosts: tuple[str, ...] | None = None,
) -> LocalRef:
    """Spawn agent ``name`` of ``kind`` (one of ``chiffon.agents.kinds.KINDS``) as top-level
    actor ``actor_name`` (default: ``name``); it announces itself to ``registry`` and
    heartbeats every ``settings.heartbeat_interval_s``. Its ledger is in ``state_dir``, its
    attempts' work directories in ``work_dir`` (default ``state_dir/work``), playbooks write
    under ``settings.target_root_dir``. ``hosts``: the names this machine answers to, for an
    executor that works only on it (default: the agent's name and the machine's host name).
    ``sampler`` defaults to ``sampler_for(settings)``; ``journal``, when given, de-duplicates
    redelivered envelopes by id too.

    Raises ``ValueError`` for an unknown kind; ``StartFailed`` (caused by
    ``LedgerUnavailable`` or ``ResourceFileInvalid``) when the agent cannot start.
    """
    agent_kind = kind_named(kind)
    chosen = sampler or sampler_for(settings)
    place = Workplace(
        catalog, target_root=settings.target_root_dir, work_dir=work_dir or state_dir / "work",
        output_cap=settings.output_cap_bytes,
        hosts=hosts if hosts is not None else _unique(name, socket.gethostname()),
    )  # fmt: skip

    sealer = Sealer.from_file(settings.sealing_key_path)

    def agent() -> Agent:
        return Agent(
            executor_for(agent_kind, place), journal=journal, name=name, kind=agent_kind.name,
            state_dir=state_dir, sampler=chosen, registry=registry,
            heartbeat_interval_s=settings.heartbeat_interval_s,
            sealer=sealer,
        )  # fmt: skip

    return await actors.spawn(agent, name=actor_name or name)


def _unique(*names: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
