"""``run_agent``: the composition root of a ``chiffon agent`` process.

An agent process has no database: an actor system, the agent actor (infra or desktop: it
runs catalog playbooks, samples its machine, answers capacity and status questions), and a
bridge to the broker with the agent's own credentials. It announces itself to every
orchestrator, heartbeats, and runs until SIGTERM or SIGINT, when it says goodbye first.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import structlog

from chiffon.actors import ActorSystem
from chiffon.errors import ConfigError
from chiffon.logs import configure_logging
from chiffon.settings import Settings

log = structlog.get_logger("chiffon.agent")


async def run_agent(
    settings: Settings,
    *,
    kind: str,
    name: str,
    connect: str,
    credentials_file: Path | None,
    catalog: Path | None,
    ready: Any = None,
    hosts: tuple[str, ...] | None = None,
) -> None:
    """Run agent ``name`` until a signal (or ``ready``'s owner cancels it). ``ready``, when
    given, is an ``anyio.Event`` set once the agent consumes. ``hosts``: the inventory names
    this machine answers to (see ``spawn_agent``). Raises ``ConfigError`` (bad credentials or
    catalog) and ``BrokerUnavailable``; ``ValueError`` for an unknown kind."""
    import anyio

    from chiffon.assembly.broker import AGENT_ACTOR, REGISTRY_ACTOR, agent_bridge
    from chiffon.bridge.credentials import load
    from chiffon.bridge.topology import ORCHESTRATORS
    from chiffon.catalog import load_catalog

    configure_logging(settings.log_level, settings.log_format)
    credentials = load(credentials_file or settings.agent_keys_path / f"{name}.json")
    if credentials.name != name:
        raise ConfigError(f"the credentials are agent {credentials.name}'s, not {name}'s.")
    root = catalog or settings.catalog
    if root is None:
        raise ConfigError(
            "an agent needs the playbook catalog: pass --catalog or set CHIFFON_CATALOG."
        )
    loaded = load_catalog(root)
    state_dir = settings.home / "agent" / name
    async with ActorSystem(
        name=f"agent-{name}", mailbox_capacity=settings.mailbox_capacity,
        shutdown_deadline_s=settings.shutdown_deadline_s,
    ) as actors:  # fmt: skip
        bridge = agent_bridge(settings, actors, credentials, connect=connect, state_dir=state_dir)
        await bridge.connect()
        try:
            from chiffon.assembly.agent import spawn_agent

            agent = await spawn_agent(
                actors, name=name, kind=kind, catalog=loaded,
                registry=bridge.ref(ORCHESTRATORS, REGISTRY_ACTOR), settings=settings,
                state_dir=state_dir, actor_name=AGENT_ACTOR, hosts=hosts,
            )  # fmt: skip
            await bridge.start_consuming()
            log.info("agent ready", name=name, kind=kind, queue=bridge.trust.queue)
            if ready is not None:
                ready.set()
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for received in signals:
                    log.info("agent stopping", signal=signal.Signals(received).name)
                    break
        finally:
            await bridge.stop_consuming()
            # Stopped while the bridge is open: the goodbye still reaches the orchestrators.
            with anyio.CancelScope(shield=True), anyio.move_on_after(settings.shutdown_deadline_s):
                for ref in list(actors.actors):
                    await ref.stop()
                await bridge.aclose()
        del agent
