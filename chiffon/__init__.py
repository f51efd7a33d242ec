"""Chiffon: plain-language infrastructure requests turned into approved, audited runs.

The public API. ``System`` is the facade and composition root::

    import chiffon

    async with chiffon.System() as system:
        ref = await system.spawn(MyActor)
        answer = await ref.ask(Question())

The actor runtime (``Actor``, ``handler``, ``ActorSystem``, refs, supervision) is usable on
its own. Names are imported on first use, so ``import chiffon`` (and ``chiffon --help``)
stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chiffon.actors import (
        Actor,
        ActorContext,
        ActorError,
        ActorNotFound,
        ActorRef,
        ActorStopped,
        ActorSystem,
        AskTimeout,
        Directive,
        Durability,
        Envelope,
        Escalated,
        InMemoryJournal,
        Journal,
        JournalUnavailable,
        LocalRef,
        MailboxFull,
        NameTaken,
        NoHandler,
        OneForAll,
        OneForOne,
        StartFailed,
        SupervisorStrategy,
        SystemShutDown,
        Terminated,
        Transition,
        UnencodableBody,
        handler,
    )
    from chiffon.assembly import System
    from chiffon.errors import ChiffonError, ConfigError
    from chiffon.settings import Settings

# Where each public name lives, when not in the actor runtime.
_HOMES = {
    "System": "chiffon.assembly",
    "Settings": "chiffon.settings",
    "ChiffonError": "chiffon.errors",
    "ConfigError": "chiffon.errors",
}

__all__ = [
    "Actor",
    "ActorContext",
    "ActorError",
    "ActorNotFound",
    "ActorRef",
    "ActorStopped",
    "ActorSystem",
    "AskTimeout",
    "ChiffonError",
    "ConfigError",
    "Directive",
    "Durability",
    "Envelope",
    "Escalated",
    "InMemoryJournal",
    "Journal",
    "JournalUnavailable",
    "LocalRef",
    "MailboxFull",
    "NameTaken",
    "NoHandler",
    "OneForAll",
    "OneForOne",
    "Settings",
    "StartFailed",
    "SupervisorStrategy",
    "System",
    "SystemShutDown",
    "Terminated",
    "Transition",
    "UnencodableBody",
    "handler",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'chiffon' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES.get(name, "chiffon.actors")), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
