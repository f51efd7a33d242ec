"""The orchestrator's errors, one class per condition."""

from __future__ import annotations

import datetime as dt

from chiffon.errors import ChiffonError


class IllegalTransition(ChiffonError):
    """Raised when code asks a run or step to move to a state its transition table does not
    allow from where it is (``succeeded`` → ``running``), or when its stored state is not the
    one the caller expected (another process moved it first). Nothing is written."""

    code = "illegal_transition"

    def __init__(self, entity: str, entity_id: object, from_state: str, to_state: str) -> None:
        super().__init__(f"{entity} {entity_id} cannot go from {from_state} to {to_state}")
        self.entity = entity
        self.from_state = from_state
        self.to_state = to_state


class RunNotFound(ChiffonError):
    """Raised when a run id, or a prefix of one, names no run, or the text is not (part of) a
    run id at all (``chiffon.orchestrator.run_ids.resolve_run_id``). The message names it."""

    code = "run_not_found"


class AmbiguousRunId(RunNotFound):
    """Raised when a run id prefix matches more than one run, like git's ambiguous abbreviated
    hashes. ``matches`` lists some of the candidates (at most five), and the message asks for
    more characters."""

    code = "ambiguous_run_id"

    def __init__(self, prefix: str, matches: list[str]) -> None:
        shown = ", ".join(matches)
        super().__init__(
            f"run id prefix {prefix!r} matches more than one run ({shown}); give more characters"
        )
        self.prefix = prefix
        self.matches = matches


class NotResumable(ChiffonError):
    """Raised by ``--resume`` for a run that is already in a terminal state, or that another
    live process is driving. The message names the run's state or its owner."""

    code = "not_resumable"


class DispatchRefused(ChiffonError):
    """Raised when PostgreSQL refuses to dispatch a step: no approval of this plan hash, or
    the approval has expired (the ``steps_dispatch_guard`` trigger)."""

    code = "dispatch_refused"


# -- deciding on a plan (any channel: chiffon.orchestrator.decisions) -----------------------


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


class InvalidDecision(ChiffonError):
    """Raised for a decision that is not one: not approve, reject or modify, or a modify
    without feedback (HTTP 422)."""

    code = "invalid_decision"


class RunEnded(ChiffonError):
    """Raised when a run that has already ended is asked to change (cancelled, decided on):
    the message names how it ended (HTTP 409)."""

    code = "run_ended"

    def __init__(self, run_id: object, status: str) -> None:
        super().__init__(f"run {run_id} has already ended: {status}")
        self.status = status


class NotCancellable(ChiffonError):
    """Raised when a cancel could not take: the run kept changing state under it (another
    process moving it each time it looked). Trying again may succeed (HTTP 409)."""

    code = "not_cancellable"
    retryable = True

    def __init__(self, run_id: object, why: str) -> None:
        super().__init__(f"run {run_id} was not cancelled: {why}; try again")


class NotAwaitingApproval(ChiffonError):
    """Raised when a decision reaches a run that has no plan awaiting approval (it is still
    planning, or running, or has ended) and nobody decided on its current plan (HTTP 409)."""

    code = "not_awaiting_approval"

    def __init__(self, run_id: object, status: str) -> None:
        super().__init__(f"run {run_id} is not awaiting approval: it is {status}")
        self.status = status
