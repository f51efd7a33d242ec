"""The probe executor's errors."""

from __future__ import annotations

from pathlib import Path

from chiffon.agents.errors import StepRefused
from chiffon.errors import ChiffonError


class ProbesInvalid(StepRefused):
    """Raised when an entry's probe file cannot be read or declares something that is not a
    probe this executor knows (the message names the file and the problem). Nothing runs."""

    code = "probes_invalid"

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"the probe file {path} is invalid: {problem}")
        self.path = path


class NotThisMachine(StepRefused):
    """Raised when a step names hosts this agent is not: probes run only on the agent's own
    machine (routing sends a probe step to an agent declaring ``host:<name>`` for its hosts).
    Nothing runs."""

    code = "not_this_machine"

    def __init__(self, agent_hosts: tuple[str, ...], others: list[str]) -> None:
        super().__init__(
            f"this agent probes only its own machine ({', '.join(agent_hosts)}), "
            f"not {', '.join(others)}"
        )
        self.others = others


class ProbeRunFailed(ChiffonError):
    """Raised when the probe worker could not run, or ended before it reported every probe
    (it crashed): the attempt fails saying so."""

    code = "probe_run_failed"

    def __init__(self, returncode: int | None, errors: str) -> None:
        said = f": {errors.strip()}" if errors.strip() else ""
        super().__init__(f"the probe worker ended with exit code {returncode}{said}")
        self.returncode = returncode
