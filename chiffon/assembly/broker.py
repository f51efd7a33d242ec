"""Joining the broker: the bridge of an orchestrator or an agent process, built from Settings.

Composition: with ``system``, the one place that sees both the bridge and the domain (the
dead-letter audit record). ``import chiffon`` loads none of it.
"""

from __future__ import annotations

import os
import socket
import ssl
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from chiffon.bridge.bridge import Bridge
from chiffon.bridge.credentials import AgentCredentials, Keyring
from chiffon.bridge.dead_letters import DeadLetter
from chiffon.bridge.inbox import SqliteInbox
from chiffon.bridge.topology import Topology
from chiffon.bridge.trust import AgentTrust, OrchestratorTrust
from chiffon.errors import ConfigError
from chiffon.settings import Settings

if TYPE_CHECKING:
    from chiffon.actors import ActorSystem
    from chiffon.bridge.inbox import Inbox
    from chiffon.database import Database

AGENT_ACTOR = "agent"
"""The name of the agent actor in an agent process: what orchestrators address."""
REGISTRY_ACTOR = "registry"
"""The name of the registry actor in an orchestrator process: what agents address."""


def amqp_url(settings: Settings) -> str:
    """``CHIFFON_AMQP_URL``; raises ``ConfigError`` when it is unset."""
    if settings.amqp_url is None:
        raise ConfigError("CHIFFON_AMQP_URL is not set: remote agents need a RabbitMQ URL.")
    return settings.amqp_url.get_secret_value()


def instance_name(settings: Settings) -> str:
    """This orchestrator process's name on the broker: ``CHIFFON_INSTANCE``, or host-pid
    (one queue per process, so concurrent ``chiffon run``s never take each other's replies)."""
    if settings.instance:
        return settings.instance
    host = "".join(c if c.isalnum() else "-" for c in socket.gethostname().lower()).strip("-")
    return f"{host[:40] or 'host'}-{os.getpid()}"


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for an ``amqps://`` URL (with the configured CA and client
    certificate), ``None`` for ``amqp://``. Raises ``ConfigError`` for unreadable files."""
    url = settings.amqp_url.get_secret_value() if settings.amqp_url else ""
    if not url.startswith("amqps://"):
        return None
    try:
        context = ssl.create_default_context(
            cafile=str(settings.amqp_ca_file) if settings.amqp_ca_file else None
        )
        if settings.amqp_cert_file is not None:
            context.load_cert_chain(
                str(settings.amqp_cert_file),
                str(settings.amqp_key_file) if settings.amqp_key_file else None,
            )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"the broker's TLS files cannot be used: {exc}.") from None
    return context


def orchestrator_bridge(
    settings: Settings, actors: ActorSystem, inbox: Inbox, database: Database | None
) -> Bridge:
    """The bridge of an orchestrator process: its own queue, every agent's key, and (with a
    database) the dead-letter audit consumer recording refusals in ``dead_letters``."""
    record = None
    if database is not None:

        async def record(letter: DeadLetter) -> None:
            from chiffon.audit.dead_letters import record_dead_letter

            await record_dead_letter(
                database, queue=letter.queue, code=letter.code, reason=letter.reason,
                message_id=letter.message_id, kind=letter.kind, sender=letter.sender,
                user_id=letter.user_id, routing_key=letter.routing_key,
                headers=letter.headers, body=letter.body, body_size=letter.body_size,
                reported_by=letter.reported_by,
            )  # fmt: skip

    topology = Topology()
    trust = OrchestratorTrust(instance_name(settings), Keyring(settings.agent_keys_path), topology)
    return Bridge(
        amqp_url(settings), actors, trust, inbox, orchestrator=True, topology=topology,
        prefetch=settings.mailbox_capacity, record_dead_letter=record,
        ssl_context=ssl_context(settings),
        # host-pid names one process: its queue goes with it (a named instance keeps its own).
        delete_queue_on_close=not settings.instance,
    )  # fmt: skip


def agent_url(connect: str, credentials: AgentCredentials) -> str:
    """The broker URL an agent logs in with: ``connect`` as given when it carries the agent's
    own user and a password, otherwise ``connect``'s host, port, vhost and scheme with the
    credentials' user and password (so no password need appear on a command line). Raises
    ``ConfigError`` for another scheme, another user, or no password anywhere."""
    parts = urllib.parse.urlsplit(connect)
    if parts.scheme not in ("amqp", "amqps"):
        raise ConfigError(f"--connect must be an amqp:// or amqps:// URL, not {connect!r}.")
    user = urllib.parse.unquote(parts.username or "")
    if user and user != credentials.amqp_user:
        raise ConfigError(
            f"--connect logs in as {user!r}, but agent {credentials.name}'s RabbitMQ user is "
            f"{credentials.amqp_user!r}."
        )
    if user and parts.password:
        return connect
    if not credentials.amqp_password:
        raise ConfigError(
            f"agent {credentials.name} uses the existing RabbitMQ user "
            f"{credentials.amqp_user!r}: give its password in --connect or CHIFFON_AMQP_URL."
        )
    quoted = urllib.parse.quote(credentials.amqp_user, safe="")
    password = urllib.parse.quote(credentials.amqp_password, safe="")
    host = parts.hostname or "localhost"
    netloc = f"{quoted}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def agent_bridge(
    settings: Settings,
    actors: ActorSystem,
    credentials: AgentCredentials,
    *,
    connect: str,
    state_dir: Path,
) -> Bridge:
    """The bridge of an agent process: its own queue (declared by ``chiffon agent add``), its
    own key, an inbox in ``state_dir`` that survives restarts. A ``step.execute`` is
    acknowledged once the agent has recorded the attempt in its ledger (and stopped an older
    attempt of the step it supersedes), a ``step.cancel`` once the attempt is stopped and
    recorded."""
    topology = Topology()
    return Bridge(
        agent_url(connect, credentials), actors, AgentTrust(credentials, topology),
        SqliteInbox(state_dir / "inbox.sqlite"), orchestrator=False, topology=topology,
        prefetch=settings.mailbox_capacity, ssl_context=ssl_context(settings),
        ack_after_handling=frozenset({"step.execute", "step.cancel"}),
    )  # fmt: skip
