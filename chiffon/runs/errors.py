"""What deciding on a run can refuse, one class per reason; each is a ``ChiffonError`` whose
``code`` the HTTP API maps to a status (409, 410)."""

from __future__ import annotations

import datetime as dt

from chiffon.errors import ChiffonError
from chiffon.orchestrator.errors import AmbiguousRunId, NotResumable, RunNotFound

__all__ = [
    "AlreadyDecided",
    "AmbiguousRunId",
    "ApprovalExpired",
    "NotAwaitingApproval",
    "NotResumable",
    "RunNotFound",
    "StaleRevision",
]


class StaleRevision(ChiffonError):
    """Raised when a decision names a plan revision (or plan hash) that is no longer the one
    awaiting approval: a modify made a newer one. It carries the current revision and hash,
    so the decider can look again (HTTP 409)."""

    code = "stale_revision"

    def __init__(self, revision: int, plan_hash: str, current_revision: int,
                 current_plan_hash: str) -> None:  # fmt: skip
        super().__init__(
            f"the decision is on plan revision {revision}, but revision {current_revision} "
            f"({current_plan_hash[:19]}…) is the one awaiting approval: look at it again"
        )
        self.current_revision = current_revision
        self.current_plan_hash = current_plan_hash


class ApprovalExpired(ChiffonError):
    """Raised when the plan's approval window has closed before the decision (HTTP 410)."""

    code = "approval_expired"

    def __init__(self, revision: int, expired_at: dt.datetime) -> None:
        super().__init__(
            f"plan revision {revision} was not decided in time: its approval expired at "
            f"{expired_at:%Y-%m-%d %H:%M:%S} UTC"
        )
        self.expired_at = expired_at


class AlreadyDecided(ChiffonError):
    """Raised when someone else decided on the plan first: the first decision wins, and this
    says who made it, what it was and when (HTTP 409)."""

    code = "already_decided"

    def __init__(self, by: str, channel: str, decision: str, at: dt.datetime) -> None:
        super().__init__(
            f"already decided: {decision} by {by} via {channel} at {at:%Y-%m-%d %H:%M:%S} UTC"
        )
        self.by = by
        self.channel = channel
        self.decision = decision
        self.at = at


class NotAwaitingApproval(ChiffonError):
    """Raised when a decision reaches a run that has no plan awaiting approval (it is still
    planning, or running, or has ended) and nobody decided on its current plan (HTTP 409)."""

    code = "not_awaiting_approval"

    def __init__(self, run_id: object, status: str) -> None:
        super().__init__(f"run {run_id} is not awaiting approval: it is {status}")
        self.status = status
