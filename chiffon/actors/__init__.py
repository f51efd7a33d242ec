"""Chiffon's actor runtime: supervised actors with bounded mailboxes, on anyio/asyncio.

Depends on anyio alone; knows nothing of PostgreSQL, RabbitMQ or homelabs. Storage comes in
through the ``Journal`` port; remote delivery through ``ActorRef`` itself: an adapter's ref
(the bridge's ``RemoteRef``) has ``LocalRef``'s interface and builds its envelopes with
``chiffon.actors.envelope.outgoing``, as a local send does.
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
    "UnencodableBody",
    "handler",
    "id_to_uuid",
    "new_id",
]
