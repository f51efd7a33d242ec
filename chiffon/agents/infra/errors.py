"""The Ansible executor's errors, one class per condition (a step refused before anything
runs — unknown entry, undeclared variable, changed files — is refused by every executor alike:
those errors are in ``chiffon.agents.errors``, re-exported here).

The agent never lets these escape to its supervisor for a ``StepExecute``: each becomes a
failed ``StepResult`` whose failure says why, and a ``StepPreview`` answer says it too.
``run_playbook`` raises them to its caller.
"""

from __future__ import annotations

# Re-exported: run_playbook raises them too.
from chiffon.agents.errors import DigestMismatch as DigestMismatch
from chiffon.agents.errors import UndeclaredVariable as UndeclaredVariable
from chiffon.agents.errors import UnknownPlaybook as UnknownPlaybook
from chiffon.errors import ChiffonError


class InfraError(ChiffonError):
    """Base class of the infra agent's errors."""

    code = "infra_error"


class PlaybookRunError(InfraError):
    """Raised when ansible-runner could not run ansible-playbook at all (its executable is
    missing, the work directory cannot be written). A playbook that ran and failed is not an
    error: it is a ``PlaybookOutcome`` with status ``failed``."""

    code = "playbook_run_error"
    retryable = True
