"""``RemoteRef``: a ref to an actor in another process, with ``LocalRef``'s interface.

An actor is addressed by the routing key of its process's queue and its name there
(``agent.infra-1`` / ``agent``). Sends go through the bridge: journaled here as a local send
would be, signed, published mandatory and confirmed. The domain holds ``ActorRef``s and
cannot tell the two kinds apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from chiffon.actors import ActorRef
from chiffon.actors.envelope import outgoing
from chiffon.actors.ref import DEFAULT_ASK_TIMEOUT_S

if TYPE_CHECKING:
    from chiffon.bridge.bridge import Bridge

log = structlog.get_logger("chiffon.bridge")


class RemoteRef(ActorRef):
    """Actor ``name`` in the process whose queue is bound to ``route``."""

    __slots__ = ("_bridge", "name", "route")

    def __init__(self, bridge: Bridge, route: str, name: str) -> None:
        self._bridge = bridge
        self.route = route
        self.name = name

    @property
    def address(self) -> str:
        return f"amqp://{self.route}/{self.name}"

    async def tell(self, message: Any, *, sender: ActorRef | None = None) -> None:
        """Publish ``message``; returns once the broker confirmed it (and, for a kind
        journaled with sync durability, once its record is committed here first).

        Raises ``Unroutable`` when no queue takes the route, ``UnknownAgent`` without a key
        for it, ``UnencodableBody`` for a body that is not a protocol model.
        """
        await self._bridge.send(outgoing(self, message, sender))

    def tell_nowait(self, message: Any, *, sender: ActorRef | None = None) -> None:
        """Queue ``message`` for publishing without waiting for its confirm. Raises
        ``MailboxFull`` when the route's backlog is full, ``SyncSendNeedsAwait`` for a
        sync-durability kind."""
        self._bridge.send_nowait(outgoing(self, message, sender))

    async def ask(
        self,
        message: Any,
        *,
        timeout: float = DEFAULT_ASK_TIMEOUT_S,
        sender: ActorRef | None = None,
    ) -> Any:
        """Publish ``message`` and wait for the remote handler's answer.

        Raises ``AskTimeout``; ``RemoteError`` (code and sentence of the remote failure);
        ``Unroutable``; ``UnknownAgent``.
        """
        return await self._bridge.request(outgoing(self, message, sender), timeout)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, RemoteRef) and other.route == self.route and other.name == self.name
        )

    def __hash__(self) -> int:
        return hash((self.route, self.name))

    def __repr__(self) -> str:
        return f"<RemoteRef {self.address}>"


class AgentsRef(ActorRef):
    """Actor ``name`` in every agent of an orchestrator's keyring: a tell goes to each agent
    separately (each signed with that agent's key — there is no shared key to broadcast
    with), and an agent that was added but has no queue is skipped. Only tells: an ask has
    no single answer."""

    __slots__ = ("_bridge", "_names", "name")

    def __init__(self, bridge: Bridge, names: Callable[[], list[str]], name: str) -> None:
        self._bridge = bridge
        self._names = names
        self.name = name

    @property
    def address(self) -> str:
        return f"amqp://agent.*/{self.name}"

    async def tell(self, message: Any, *, sender: ActorRef | None = None) -> None:
        """Tell each agent; raises nothing for an agent that cannot be reached."""
        from chiffon.bridge.errors import BridgeError

        for agent in self._names():
            ref = RemoteRef(self._bridge, f"agent.{agent}", self.name)
            try:
                await ref.tell(message, sender=sender)
            except BridgeError as exc:
                log.info(
                    "agent not reached", agent=agent, kind=type(message).__name__, error=str(exc)
                )

    def tell_nowait(self, message: Any, *, sender: ActorRef | None = None) -> None:
        for agent in self._names():
            RemoteRef(self._bridge, f"agent.{agent}", self.name).tell_nowait(message, sender=sender)

    async def ask(
        self,
        message: Any,
        *,
        timeout: float = DEFAULT_ASK_TIMEOUT_S,
        sender: ActorRef | None = None,
    ) -> Any:
        raise TypeError("a message to every agent has no single answer: tell it")

    def __repr__(self) -> str:
        return f"<AgentsRef {self.address}>"
