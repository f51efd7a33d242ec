"""The orchestrator's errors, one class per condition."""

from __future__ import annotations

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
