"""The audit's errors, one class per condition."""

from __future__ import annotations

from chiffon.errors import ChiffonError


class AuditUnavailable(ChiffonError):
    """Raised by ``GitTrail`` when the git audit trail cannot be written or read: git is not
    installed, a git command failed (the message carries git's own first line of complaint),
    the repository directory is unusable, or another process held the trail's lock past the
    timeout. The run itself is unaffected: the caller logs the sentence and continues, and
    the database keeps the complete record."""

    code = "audit_unavailable"
    retryable = True


class RunNotFound(ChiffonError):
    """Raised by the audit queries when no run has the given id, or no run id starts with
    the given prefix, or the text is not a (partial) run id at all. The message names it."""

    code = "run_not_found"


class AmbiguousRunId(ChiffonError):
    """Raised by the audit queries when a run id prefix matches more than one run, like
    git's ambiguous abbreviated hashes. ``matches`` lists some of the candidates (at most
    five), and the message asks for more characters."""

    code = "ambiguous_run_id"

    def __init__(self, prefix: str, matches: list[str]) -> None:
        shown = ", ".join(matches)
        super().__init__(
            f"run id prefix {prefix!r} matches more than one run ({shown}); give more characters"
        )
        self.prefix = prefix
        self.matches = matches
