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
