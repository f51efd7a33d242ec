"""The infra agent's errors, one class per condition.

The agent never lets these escape to its supervisor for a ``StepExecute``: each becomes a
failed ``StepResult`` whose failure says why, and a ``StepPreview`` answer says it too.
``run_playbook`` raises them to its caller.
"""

from __future__ import annotations

from chiffon.errors import ChiffonError


class InfraError(ChiffonError):
    """Base class of the infra agent's errors."""

    code = "infra_error"


class UnknownPlaybook(InfraError):
    """Raised when a step names a playbook id the agent's catalog does not have. Nothing runs:
    a playbook is found by catalog id only, never by a path from a message."""

    code = "unknown_playbook"

    def __init__(self, playbook: str) -> None:
        super().__init__(f'unknown playbook "{playbook}": the catalog has no such entry')
        self.playbook = playbook


class DigestMismatch(InfraError):
    """Raised when the playbook's files no longer match the digest the approval named: what
    would run is not what was approved. Nothing runs."""

    code = "digest_mismatch"

    def __init__(self, playbook: str, approved: str, current: str) -> None:
        super().__init__(
            f'the playbook "{playbook}" changed since it was approved '
            f"(approved {approved}, now {current}): it needs a new plan and approval"
        )
        self.playbook = playbook
        self.approved = approved
        self.current = current


class UndeclaredVariable(InfraError):
    """Raised when a step passes variables its catalog entry does not declare. Nothing runs:
    a step may set only what the playbook declares."""

    code = "undeclared_variable"

    def __init__(self, playbook: str, names: list[str]) -> None:
        listed = ", ".join(f'"{n}"' for n in sorted(names))
        super().__init__(f'playbook "{playbook}" does not declare the variable(s) {listed}')
        self.playbook = playbook
        self.names = sorted(names)


class PlaybookRunError(InfraError):
    """Raised when ansible-runner could not run ansible-playbook at all (its executable is
    missing, the work directory cannot be written). A playbook that ran and failed is not an
    error: it is a ``PlaybookOutcome`` with status ``failed``."""

    code = "playbook_run_error"
    retryable = True
