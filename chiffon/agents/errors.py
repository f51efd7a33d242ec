"""The agents' errors (resources, ledger, registry), one class per condition. The infra agent's
playbook errors are in ``chiffon.agents.infra.errors``."""

from __future__ import annotations

from pathlib import Path

from chiffon.errors import ChiffonError


class AgentError(ChiffonError):
    """Base class of the agents' errors."""

    code = "agent_error"


class ResourceFileInvalid(AgentError):
    """Raised by ``FileSampler.sample`` when its file is not a JSON object of resource fields
    (unreadable, not JSON, an unknown field, a value of the wrong type). The message names the
    file and the field."""

    code = "resource_file_invalid"

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"the resource file {path} is invalid: {problem}")
        self.path = path


class LedgerUnavailable(AgentError):
    """Raised when the agent's ledger of step attempts (a SQLite file in its state directory)
    cannot be opened or written: the agent cannot promise not to run an attempt twice, so it
    does not start (or refuses the step)."""

    code = "ledger_unavailable"
    retryable = True

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"the agent's ledger {path} cannot be used: {problem}")
        self.path = path
