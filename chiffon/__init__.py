"""Chiffon: plain-language infrastructure requests turned into approved, audited runs.

The public API. ``System`` is the facade and composition root::

    import chiffon

    async with chiffon.System() as system:
        ref = await system.spawn(MyActor)
        answer = await ref.ask(Question())

With a catalog, ``System.run`` handles an infrastructure request end to end::

    async with chiffon.System(catalog="examples/homelab") as system:
        summary = await system.run("Deploy Uptime Kuma", approver=lambda plan: True)

``System.runs`` (``Runs``) is the application layer every channel uses: ``submit`` returns
a ``RunHandle`` at once, to follow (``events``), decide on (``decide``), cancel or wait for.

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
    from chiffon.catalog import Catalog, load_catalog
    from chiffon.errors import ChiffonError, ConfigError
    from chiffon.orchestrator.approval import Approver, AutoApprove, CallbackApprover, Verdict
    from chiffon.protocol import Plan, PlanProposed, PlanStep, RunFinished
    from chiffon.runs import Identity, RunEvent, RunHandle, Runs
    from chiffon.settings import Settings

# Where each public name lives, when not in the actor runtime.
_HOMES = {
    "System": "chiffon.assembly",
    "Settings": "chiffon.settings",
    "ChiffonError": "chiffon.errors",
    "ConfigError": "chiffon.errors",
    "Approver": "chiffon.orchestrator.approval",
    "AutoApprove": "chiffon.orchestrator.approval",
    "CallbackApprover": "chiffon.orchestrator.approval",
    "Verdict": "chiffon.orchestrator.approval",
    "Catalog": "chiffon.catalog",
    "load_catalog": "chiffon.catalog",
    "Plan": "chiffon.protocol",
    "PlanProposed": "chiffon.protocol",
    "PlanStep": "chiffon.protocol",
    "RunFinished": "chiffon.protocol",
    "Identity": "chiffon.runs",
    "RunEvent": "chiffon.runs",
    "RunHandle": "chiffon.runs",
    "Runs": "chiffon.runs",
}

__all__ = [
    "Actor",
    "ActorContext",
    "ActorError",
    "ActorNotFound",
    "ActorRef",
    "ActorStopped",
    "ActorSystem",
    "Approver",
    "AskTimeout",
    "AutoApprove",
    "CallbackApprover",
    "Catalog",
    "ChiffonError",
    "ConfigError",
    "Directive",
    "Durability",
    "Envelope",
    "Escalated",
    "Identity",
    "InMemoryJournal",
    "Journal",
    "JournalUnavailable",
    "LocalRef",
    "MailboxFull",
    "NameTaken",
    "NoHandler",
    "OneForAll",
    "OneForOne",
    "Plan",
    "PlanProposed",
    "PlanStep",
    "RunEvent",
    "RunFinished",
    "RunHandle",
    "Runs",
    "Settings",
    "StartFailed",
    "SupervisorStrategy",
    "System",
    "SystemShutDown",
    "Terminated",
    "Transition",
    "UnencodableBody",
    "Verdict",
    "handler",
    "load_catalog",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'chiffon' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES.get(name, "chiffon.actors")), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
