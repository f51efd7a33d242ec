"""Errors of the actor runtime and of its ports. One class per condition."""

from __future__ import annotations

from chiffon.errors import ChiffonError


class ActorError(ChiffonError):
    """Base class of the runtime's errors."""

    code = "actor_error"


class ActorStopped(ActorError):
    """Raised to a sender when the recipient has stopped.

    Raised by ``tell``/``tell_nowait`` on a stopped actor, and by ``ask`` when the actor stops
    before answering, including when the ask was still queued in its mailbox.
    """

    code = "actor_stopped"

    def __init__(self, address: str, detail: str = "") -> None:
        suffix = f": {detail}" if detail else ""
        super().__init__(f"actor {address} has stopped{suffix}")
        self.address = address


class AskTimeout(ActorError, TimeoutError):
    """Raised by ``ask`` when no answer came within its timeout; the message may still be
    handled later."""

    code = "ask_timeout"
    retryable = True

    def __init__(self, address: str, kind: str, timeout: float) -> None:
        super().__init__(f"{address} did not answer {kind} within {timeout:g} s")
        self.address = address
        self.timeout = timeout


class MailboxFull(ActorError):
    """Raised by ``tell_nowait`` when the recipient's mailbox is at capacity."""

    code = "mailbox_full"
    retryable = True

    def __init__(self, address: str, capacity: int) -> None:
        super().__init__(f"mailbox of {address} is full ({capacity} messages)")
        self.address = address


class NoHandler(ActorError):
    """Raised (to the asker, and to the supervisor) when an actor has no handler for a message."""

    code = "no_handler"

    def __init__(self, actor: str, kind: str) -> None:
        super().__init__(f"actor {actor} has no handler for {kind}")


class HandlerSpecError(ActorError, TypeError):
    """Raised by ``spawn`` (when an actor class is first used) if a ``@handler`` method's
    message class cannot be determined, or a class has two handlers for one message class."""

    code = "handler_spec_error"


class NameTaken(ActorError):
    """Raised by ``spawn`` when another live actor already has the requested name."""

    code = "name_taken"

    def __init__(self, name: str) -> None:
        super().__init__(f"an actor named {name!r} is already running")


class ActorNotFound(ActorError):
    """Raised by ``ActorSystem.lookup`` when no live actor has the name."""

    code = "actor_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"no actor named {name!r}")


class StartFailed(ActorError):
    """Raised by ``spawn`` when the actor's ``on_start`` raised; the cause is chained."""

    code = "start_failed"

    def __init__(self, address: str) -> None:
        super().__init__(f"actor {address} failed to start")


class Escalated(ActorError):
    """The failure a supervisor passes up when its strategy escalates, or its restart intensity
    is exceeded. Raised out of ``ActorSystem.__aexit__`` when it reaches the root."""

    code = "escalated"

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"{address} escalated: {reason}")
        self.address = address


class SystemShutDown(ActorError):
    """Raised by ``spawn``/``tell`` once the actor system is shutting down or has shut down."""

    code = "system_shut_down"

    def __init__(self) -> None:
        super().__init__("the actor system has shut down")


class SyncSendNeedsAwait(ActorError):
    """Raised by ``tell_nowait`` for a message kind whose durability is sync: such a send
    completes only after its commit, so it must be awaited (``await ref.tell(msg)``)."""

    code = "sync_send_needs_await"

    def __init__(self, kind: str) -> None:
        super().__init__(
            f"{kind} is journaled with sync durability: use `await tell`, not tell_nowait"
        )


class JournalError(ActorError):
    """Base class of errors raised through the ``Journal`` port."""

    code = "journal_error"


class UnencodableBody(JournalError, TypeError):
    """Raised at send when a journaled message's body cannot be encoded as JSON."""

    code = "unencodable_body"

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"body of {kind} cannot be journaled: {detail}")
        self.kind = kind


class JournalUnavailable(JournalError):
    """Raised by a sync send when its record could not be committed (the database went away).

    Nothing was stored and nothing was delivered; the journal reconnects by itself, so the
    same send may succeed later.
    """

    code = "journal_unavailable"
    retryable = True

    def __init__(self, detail: str) -> None:
        super().__init__(f"the journal could not commit: {detail}")


class JournalClosed(JournalError):
    """Raised when a record is written to a journal that has been closed."""

    code = "journal_closed"

    def __init__(self) -> None:
        super().__init__("the journal is closed")


class DuplicateTransition(JournalError):
    """Raised when a transition's (entity, sequence) was already recorded: another writer won."""

    code = "duplicate_transition"

    def __init__(self, entity_kind: str, entity_id: str, seq: int) -> None:
        super().__init__(f"transition {seq} of {entity_kind} {entity_id} is already recorded")
