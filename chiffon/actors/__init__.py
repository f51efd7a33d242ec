"""Chiffon's actor runtime: supervised actors with bounded mailboxes, on anyio/asyncio.

Depends on anyio alone; knows nothing of PostgreSQL, RabbitMQ or homelabs. Storage and
remote delivery come in through two ports, ``Journal`` and ``Transport``.
"""

from chiffon.actors.actor import Actor, ActorContext
from chiffon.actors.envelope import Envelope, id_to_uuid, new_id
from chiffon.actors.errors import (
    ActorError,
    ActorNotFound,
    ActorStopped,
    AskTimeout,
    DuplicateTransition,
    Escalated,
    HandlerSpecError,
    JournalClosed,
    JournalError,
    JournalUnavailable,
    MailboxFull,
    NameTaken,
    NoHandler,
    StartFailed,
    SyncSendNeedsAwait,
    SystemShutDown,
    UnencodableBody,
)
from chiffon.actors.handlers import handler
from chiffon.actors.journal import Durability, InMemoryJournal, Journal, StoredMessage, Transition
from chiffon.actors.mailbox import MailboxStatistics
from chiffon.actors.ref import ActorRef, LocalRef
from chiffon.actors.supervision import (
    Clock,
    Directive,
    MonotonicClock,
    OneForAll,
    OneForOne,
    SupervisorStrategy,
)
from chiffon.actors.system import ActorSystem
from chiffon.actors.transport import Transport
from chiffon.actors.watch import Terminated

__all__ = [
    "Actor",
    "ActorContext",
    "ActorError",
    "ActorNotFound",
    "ActorRef",
    "ActorStopped",
    "ActorSystem",
    "AskTimeout",
    "Clock",
    "Directive",
    "DuplicateTransition",
    "Durability",
    "Envelope",
    "Escalated",
    "HandlerSpecError",
    "InMemoryJournal",
    "Journal",
    "JournalClosed",
    "JournalError",
    "JournalUnavailable",
    "LocalRef",
    "MailboxFull",
    "MailboxStatistics",
    "MonotonicClock",
    "NameTaken",
    "NoHandler",
    "OneForAll",
    "OneForOne",
    "StartFailed",
    "StoredMessage",
    "SupervisorStrategy",
    "SyncSendNeedsAwait",
    "SystemShutDown",
    "Terminated",
    "Transition",
    "Transport",
    "UnencodableBody",
    "handler",
    "id_to_uuid",
    "new_id",
]
