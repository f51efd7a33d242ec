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


class AttemptOutdated(AgentError):
    """Raised by ``Ledger.begin`` when the ledger already holds a newer attempt of the same
    step (the same run and position): the orchestrator gave up on the older one before it
    sent the newer, so the older never runs. The agent refuses it with a failed result."""

    code = "attempt_outdated"

    def __init__(self, attempt: int, newer: int, position: int) -> None:
        super().__init__(
            f"attempt {attempt} of step {position + 1} is older than attempt {newer}, "
            "which this agent already had: it never runs"
        )
        self.attempt = attempt
        self.newer = newer
        self.position = position
