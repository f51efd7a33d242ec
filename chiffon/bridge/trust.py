"""Who may say what: the keys a process signs with and the checks on what it receives.

An orchestrator signs a message to agent X with X's key and accepts from X only messages
signed with X's key, published by X's RabbitMQ user (the broker vouches for the AMQP
``user_id`` property) and whose every envelope names ``agent:X`` as its sender. An agent signs
with its own key and accepts only messages signed with it, published by one of the
orchestrators' users, from an ``orchestrator:`` sender. So an agent can neither pass for
another agent nor for an orchestrator to another agent: it has no other key, and its
RabbitMQ user may publish only to the orchestrators' routing keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from chiffon.bridge.credentials import AgentCredentials, Keyring
from chiffon.bridge.errors import Refused, UnknownAgent
from chiffon.bridge.topology import Topology


class Trust(Protocol):
    """A process's identity on the wire and its signing rules."""

    identity: str
    """``agent:<name>`` or ``orchestrator:<instance>``: every envelope's ``sender``."""
    route: str
    """The routing key of this process's own queue: where answers to it go."""
    queue: str

    def outgoing_key(self, route: str) -> tuple[str, bytes]:
        """The key id and key to sign a message to ``route`` with. Raises ``UnknownAgent``."""
        ...

    def incoming_key(self, key_id: str, user_id: str | None, senders: Iterable[str]) -> bytes:
        """The key to check a received message's signature with, once its key id, AMQP user
        and envelope senders are acceptable. Raises ``Refused``."""
        ...

    def reply_route(self, key_id: str) -> str | None:
        """The one ``reply_to`` a message signed with ``key_id`` may carry (its sender's own
        queue), or ``None`` when any is accepted."""
        ...

    def agent_of_login(self, user: str) -> str | None:
        """The agent whose RabbitMQ login ``user`` is, as far as this process knows."""
        ...


class OrchestratorTrust:
    """An orchestrator instance: talks to the agents of its keyring."""

    def __init__(self, instance: str, keyring: Keyring, topology: Topology) -> None:
        self.instance = instance
        self.keyring = keyring
        self.topology = topology
        self.identity = f"orchestrator:{instance}"
        self.route = topology.orchestrator_route(instance)
        self.queue = topology.orchestrator_queue(instance)

    def outgoing_key(self, route: str) -> tuple[str, bytes]:
        if not route.startswith("agent."):
            raise UnknownAgent(route)
        name = route.removeprefix("agent.")
        return name, self.keyring.get(name).key

    def incoming_key(self, key_id: str, user_id: str | None, senders: Iterable[str]) -> bytes:
        try:
            credentials = self.keyring.get(key_id)
        except UnknownAgent:
            raise Refused("unknown_sender", f"no agent named {key_id!r} is known here") from None
        if user_id != credentials.amqp_user:
            raise Refused(
                "forged",
                f"signed with agent {key_id}'s key but published by AMQP user {user_id!r}, "
                f"not {credentials.amqp_user!r}",
            )
        for sender in senders:
            if sender != f"agent:{key_id}":
                raise Refused(
                    "forged", f"an envelope claims to be from {sender!r} under {key_id}'s key"
                )
        return credentials.key

    def reply_route(self, key_id: str) -> str | None:
        # An agent is answered (and routed work) at its own queue only: otherwise one agent
        # could name another's queue and have that one run its work under its name.
        return self.topology.agent_route(key_id)

    def agent_of_login(self, user: str) -> str | None:
        found = self.keyring.by_amqp_user(user)
        return None if found is None else found.name


class AgentTrust:
    """An agent: talks to the orchestrators with its own key."""

    def __init__(self, credentials: AgentCredentials, topology: Topology) -> None:
        self.credentials = credentials
        self.identity = f"agent:{credentials.name}"
        self.route = topology.agent_route(credentials.name)
        self.queue = topology.agent_queue(credentials.name)

    def outgoing_key(self, route: str) -> tuple[str, bytes]:
        return self.credentials.name, self.credentials.key

    def incoming_key(self, key_id: str, user_id: str | None, senders: Iterable[str]) -> bytes:
        if key_id != self.credentials.name:
            raise Refused("unknown_sender", f"signed with {key_id!r}'s key, not this agent's")
        if user_id not in self.credentials.orchestrator_users:
            raise Refused("forged", f"published by AMQP user {user_id!r}, not an orchestrator's")
        for sender in senders:
            if not sender.startswith("orchestrator:"):
                raise Refused("forged", f"an envelope claims to be from {sender!r}")
        return self.credentials.key

    def reply_route(self, key_id: str) -> str | None:
        # The orchestrators' users are trusted to name their own instance's queue.
        return None

    def agent_of_login(self, user: str) -> str | None:
        return self.credentials.name if user == self.credentials.amqp_user else None
