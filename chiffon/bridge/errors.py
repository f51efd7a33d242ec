"""The bridge's errors: one class per condition, each saying when it is raised."""

from __future__ import annotations

from chiffon.errors import ChiffonError


class BridgeError(ChiffonError):
    """Root of the bridge's errors."""


class BrokerUnavailable(BridgeError):
    """Raised by ``Bridge.__aenter__`` when RabbitMQ cannot be reached or refuses the login."""

    def __init__(self, url: str, cause: BaseException) -> None:
        super().__init__(f"cannot connect to RabbitMQ at {url}: {cause}")


class Unroutable(BridgeError):
    """Raised by a send when the broker returns the message: no queue is bound to its routing
    key (an agent that was never added, or an orchestrator queue that expired)."""

    def __init__(self, routing_key: str) -> None:
        super().__init__(f"no queue takes messages for {routing_key!r}: the broker returned it")
        self.routing_key = routing_key


class UnknownAgent(BridgeError):
    """Raised when a message is to or from an agent that has no credentials here
    (``chiffon agent add NAME`` creates them)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no credentials for agent {name!r}: run `chiffon agent add {name}`")
        self.name = name


class CredentialsError(BridgeError):
    """Raised when a credentials file is missing, unreadable or malformed; names the file."""


class RemoteError(BridgeError):
    """Raised by a remote ``ask`` when the remote handler failed: carries the remote side's
    error ``code`` (its exception's class name, or a protocol code) and sentence."""

    def __init__(self, code: str, sentence: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {sentence}")
        self.code = code
        self.sentence = sentence
        self.retryable = retryable


class Refused(BridgeError):
    """Raised inside the consumer when a message must be dead-lettered; ``code`` is the
    dead-letter reason code (``unsigned``, ``forged``, ``replayed``, ``unknown_kind`` …)."""

    def __init__(self, code: str, sentence: str) -> None:
        super().__init__(f"{code}: {sentence}")
        self.code = code
        self.sentence = sentence
