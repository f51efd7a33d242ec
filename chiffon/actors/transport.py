"""The Transport port: how a ref to an actor in another process sends.

``chiffon.bridge`` implements it over RabbitMQ; a remote ref built on a transport has the
same ``tell``/``ask`` interface as a local one, so the domain cannot tell them apart.
"""

from __future__ import annotations

from typing import Any, Protocol

from chiffon.actors.envelope import Envelope


class Transport(Protocol):
    """Delivery of envelopes to actors in other processes."""

    async def send(self, envelope: Envelope) -> None:
        """Deliver ``envelope`` to its recipient's address; returns once the broker has
        accepted it (publisher confirm). Raises ``ActorStopped`` for an unknown address."""
        ...

    async def request(self, envelope: Envelope, timeout: float) -> Any:
        """Send and wait for the answer. Raises ``AskTimeout``, or the remote failure."""
        ...
