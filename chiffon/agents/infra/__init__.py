"""The Ansible executor: catalog playbooks run with ansible-runner, their events streamed; what
``infra`` agents (and ``desktop`` ones, on a GPU machine) run behind the agent core.

Importing this package does not import Ansible; ``run_playbook`` does, when it runs.
"""

from chiffon.agents.executor import NO_CHANGES
from chiffon.agents.infra.ansible import playbook_variables, run_playbook
from chiffon.agents.infra.errors import (
    DigestMismatch,
    InfraError,
    PlaybookRunError,
    UndeclaredVariable,
    UnknownPlaybook,
)
from chiffon.agents.infra.events import EventStatus, PlaybookEvent, PlaybookOutcome
from chiffon.agents.infra.executor import AnsibleExecutor, ansible_agent
from chiffon.agents.infra.redaction import REDACTED, Redactor

__all__ = [
    "NO_CHANGES",
    "REDACTED",
    "AnsibleExecutor",
    "DigestMismatch",
    "EventStatus",
    "InfraError",
    "PlaybookEvent",
    "PlaybookOutcome",
    "PlaybookRunError",
    "Redactor",
    "UndeclaredVariable",
    "UnknownPlaybook",
    "ansible_agent",
    "playbook_variables",
    "run_playbook",
]
