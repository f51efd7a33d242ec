"""Per-agent credentials: a RabbitMQ user and a signing key for each agent, never shared.

``chiffon agent add NAME`` writes ``<keys dir>/<NAME>.json`` on the orchestrator's machine::

    {"name": "infra-1", "amqp_user": "chiffon-agent-infra-1", "amqp_password": "…",
     "key": "<hex>", "orchestrator_users": ["chiffon"]}

The orchestrators read every file of the directory (their ``Keyring``); the agent's machine
gets a copy of its own file (``chiffon agent --credentials FILE``). ``orchestrator_users``
are the AMQP users whose messages the agent accepts as the orchestrator's. Files are written
owner-readable only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import urllib.parse
from pathlib import Path

from chiffon.bridge.errors import CredentialsError, UnknownAgent
from chiffon.bridge.topology import Topology
from chiffon.protocol.signing import new_key

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def check_name(name: str) -> str:
    """``name`` if it is a valid agent name; raises ``CredentialsError`` otherwise."""
    if not NAME.match(name):
        raise CredentialsError(
            f"agent name {name!r} must be 1-63 lowercase letters, digits or dashes"
        )
    return name


@dataclasses.dataclass(frozen=True, slots=True)
class AgentCredentials:
    """One agent's RabbitMQ login and signing key."""

    name: str
    amqp_user: str
    amqp_password: str
    key: bytes = dataclasses.field(repr=False)
    orchestrator_users: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "amqp_user": self.amqp_user,
            "amqp_password": self.amqp_password,
            "key": self.key.hex(),
            "orchestrator_users": list(self.orchestrator_users),
        }


def create(
    name: str, *, amqp_user: str | None = None, orchestrator_users: tuple[str, ...]
) -> AgentCredentials:
    """New credentials for agent ``name``: a fresh signing key, and a fresh RabbitMQ user and
    password unless ``amqp_user`` names an existing user."""
    check_name(name)
    return AgentCredentials(
        name=name,
        amqp_user=amqp_user or f"chiffon-agent-{name}",
        # An existing user keeps its own password: the agent gives it when it connects.
        amqp_password="" if amqp_user else secrets.token_urlsafe(24),
        key=new_key(),
        orchestrator_users=orchestrator_users,
    )


def save(credentials: AgentCredentials, directory: Path) -> Path:
    """Write ``credentials`` to ``directory/<name>.json`` (mode 0600); returns the path."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{credentials.name}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(credentials.to_json(), file, indent=2)
        file.write("\n")
    return path


def load(path: Path) -> AgentCredentials:
    """Read one credentials file. Raises ``CredentialsError`` naming the file and the problem."""
    try:
        data = json.loads(path.read_text())
        return AgentCredentials(
            name=check_name(str(data["name"])),
            amqp_user=str(data["amqp_user"]),
            amqp_password=str(data.get("amqp_password", "")),
            key=bytes.fromhex(str(data["key"])),
            orchestrator_users=tuple(str(u) for u in data.get("orchestrator_users", ())),
        )
    except FileNotFoundError:
        raise CredentialsError(f"no agent credentials at {path}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CredentialsError(f"agent credentials {path} are unreadable: {exc}") from None


class Keyring:
    """Every agent's credentials, as an orchestrator knows them. Re-read when an unknown
    agent appears, so an agent added while ``chiffon serve`` runs is accepted."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._agents: dict[str, AgentCredentials] = {}
        self.reload()

    def reload(self) -> None:
        agents: dict[str, AgentCredentials] = {}
        if self.directory.is_dir():
            for path in sorted(self.directory.glob("*.json")):
                credentials = load(path)
                agents[credentials.name] = credentials
        self._agents = agents

    def get(self, name: str) -> AgentCredentials:
        """The credentials of agent ``name``; raises ``UnknownAgent``."""
        found = self._agents.get(name)
        if found is None:
            self.reload()
            found = self._agents.get(name)
            if found is None:
                raise UnknownAgent(name)
        return found

    def names(self) -> list[str]:
        return sorted(self._agents)

    def by_amqp_user(self, user: str) -> AgentCredentials | None:
        """The agent whose RabbitMQ login is ``user``, if any (re-reading once)."""
        for attempt in range(2):
            for credentials in self._agents.values():
                if credentials.amqp_user == user:
                    return credentials
            if attempt == 0:
                self.reload()
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class Permissions:
    """What an agent's RabbitMQ user may do: regular expressions over names, as RabbitMQ
    takes them (``configure``/``write``/``read`` on exchanges and queues; ``topic_write``/
    ``topic_read`` on routing keys of ``topic_exchange``)."""

    configure: str
    write: str
    read: str
    topic_exchange: str
    topic_write: str
    topic_read: str


def permissions(credentials: AgentCredentials, topology: Topology | None = None) -> Permissions:
    """Agent ``credentials.name``'s: read its own queue, write to the shared exchanges (the
    dead-letter one included: it dead-letters what it refuses) and only to the orchestrators'
    routing keys, declare nothing (``chiffon agent add`` declares its queue and bindings with
    the orchestrator's login). Names are ``topology``'s (by default Chiffon's own)."""
    topology = topology or Topology()
    queue = re.escape(topology.agent_queue(credentials.name))
    exchanges = f"{re.escape(topology.exchange)}|{re.escape(topology.dead_letter_exchange)}"
    return Permissions(
        configure="^$", write=f"^({exchanges})$", read=f"^{queue}$",
        topic_exchange=topology.exchange, topic_write=r"^(orchestrators|orchestrator\..+)$",
        topic_read="^$",
    )  # fmt: skip


def vhost_of(url: str) -> str:
    """The virtual host an ``amqp[s]://`` URL names (its path, percent-decoded): ``/`` when
    it names none, as AMQP clients take it."""
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path[1:]) or "/"


def rabbitmqctl_commands(
    credentials: AgentCredentials, *, vhost: str, topology: Topology | None = None
) -> list[list[str]]:
    """The ``rabbitmqctl`` commands that create the agent's user with its ``permissions`` on
    ``vhost`` (the orchestrator's: ``vhost_of`` its URL)."""
    user = credentials.amqp_user
    allowed = permissions(credentials, topology)
    return [
        # ``--``: a password may start with a dash, which rabbitmqctl would take for an option.
        ["rabbitmqctl", "add_user", "--", user, credentials.amqp_password],
        ["rabbitmqctl", "set_permissions", "-p", vhost, user, allowed.configure, allowed.write,
         allowed.read],
        ["rabbitmqctl", "set_topic_permissions", "-p", vhost, user, allowed.topic_exchange,
         allowed.topic_write, allowed.topic_read],
    ]  # fmt: skip
