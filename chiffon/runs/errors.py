"""What the application layer raises, for its callers to catch in one place: deciding on a
run (``StaleRevision`` and ``AlreadyDecided`` → HTTP 409, ``ApprovalExpired`` → 410,
``NotAwaitingApproval``, ``RunEnded`` → 409) and finding one (``RunNotFound``, of which
``AmbiguousRunId`` is one → 404). Each is a ``ChiffonError`` with a ``code``; they are the
domain's own (``chiffon.orchestrator.errors``), which raises them."""

from __future__ import annotations

from chiffon.orchestrator.errors import (
    AlreadyDecided,
    AmbiguousRunId,
    ApprovalExpired,
    NotAwaitingApproval,
    NotResumable,
    RunEnded,
    RunNotFound,
    StaleRevision,
)

__all__ = [
    "AlreadyDecided",
    "AmbiguousRunId",
    "ApprovalExpired",
    "NotAwaitingApproval",
    "NotResumable",
    "RunEnded",
    "RunNotFound",
    "StaleRevision",
]
