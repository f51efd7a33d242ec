"""The application layer: ``Runs`` (submit, find, list, decide, cancel, follow) and
``RunHandle``, which every entry point — the CLI, the HTTP API, the dashboard, a library
user — goes through. ``System.runs`` is the process's ``Runs``."""

from chiffon.orchestrator.events import RunEvent
from chiffon.runs.errors import (
    AlreadyDecided,
    AmbiguousRunId,
    ApprovalExpired,
    NotAwaitingApproval,
    NotResumable,
    RunEnded,
    RunNotFound,
    StaleRevision,
)
from chiffon.runs.handle import RunHandle
from chiffon.runs.identity import Channel, Identity
from chiffon.runs.listing import BadCursor
from chiffon.runs.records import (
    Decision,
    DecisionRecord,
    Page,
    PendingApproval,
    PlannedStep,
    PlanPreview,
    PlanRevision,
    RunDescription,
    RunFilters,
    RunSummary,
)
from chiffon.runs.service import Runs

__all__ = [
    "AlreadyDecided",
    "AmbiguousRunId",
    "ApprovalExpired",
    "BadCursor",
    "Channel",
    "Decision",
    "DecisionRecord",
    "Identity",
    "NotAwaitingApproval",
    "NotResumable",
    "Page",
    "PendingApproval",
    "PlanPreview",
    "PlanRevision",
    "PlannedStep",
    "RunDescription",
    "RunEnded",
    "RunEvent",
    "RunFilters",
    "RunHandle",
    "RunNotFound",
    "RunSummary",
    "Runs",
    "StaleRevision",
]
