"""The agents' errors (resources, ledger, steps refused), one class per condition. The Ansible
executor's own errors are in ``chiffon.agents.infra.errors``, the probes' in
``chiffon.agents.probes.errors``."""

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


class StepRefused(AgentError):
    """Base class of the reasons an agent refuses a step before anything of it runs: the
    refusal is a failed ``StepResult`` (``refused: …``), or a preview's answer."""

    code = "step_refused"


class UnknownPlaybook(StepRefused):
    """Raised when a step names a playbook id the agent's catalog does not have. Nothing runs:
    a playbook is found by catalog id only, never by a path from a message."""

    code = "unknown_playbook"

    def __init__(self, playbook: str) -> None:
        super().__init__(f'unknown playbook "{playbook}": the catalog has no such entry')
        self.playbook = playbook


class DigestMismatch(StepRefused):
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


class UndeclaredVariable(StepRefused):
    """Raised when a step passes variables its catalog entry does not declare. Nothing runs:
    a step may set only what the playbook declares."""

    code = "undeclared_variable"

    def __init__(self, playbook: str, names: list[str]) -> None:
        listed = ", ".join(f'"{n}"' for n in sorted(names))
        super().__init__(f'playbook "{playbook}" does not declare the variable(s) {listed}')
        self.playbook = playbook
        self.names = sorted(names)


class WrongExecutor(StepRefused):
    """Raised when a step's catalog entry is carried out by another executor than this
    agent's (routing sends a step only to an agent declaring its executor, so this is a
    sender that did not route). Nothing runs."""

    code = "wrong_executor"

    def __init__(self, playbook: str, wanted: str, mine: str) -> None:
        super().__init__(
            f'"{playbook}" is carried out by the {wanted} executor; this agent runs {mine}'
        )
        self.playbook = playbook
        self.wanted = wanted
