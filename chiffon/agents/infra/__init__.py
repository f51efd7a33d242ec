"""The infra agent: runs catalog playbooks with ansible-runner and streams their events; the
same actor, on a GPU machine, is the desktop agent.

Importing this package does not import Ansible; ``run_playbook`` does, when it runs.
"""

from chiffon.agents.infra.actor import NO_CHANGES, InfraAgent, preview_plan
from chiffon.agents.infra.ansible import playbook_variables, run_playbook
from chiffon.agents.infra.errors import (
    DigestMismatch,
    InfraError,
    PlaybookRunError,
    UndeclaredVariable,
    UnknownPlaybook,
)
from chiffon.agents.infra.events import EventStatus, PlaybookEvent, PlaybookOutcome
from chiffon.agents.infra.redaction import REDACTED, Redactor

__all__ = [
    "NO_CHANGES",
    "REDACTED",
    "DigestMismatch",
    "EventStatus",
    "InfraAgent",
    "InfraError",
    "PlaybookEvent",
    "PlaybookOutcome",
    "PlaybookRunError",
    "Redactor",
    "UndeclaredVariable",
    "UnknownPlaybook",
    "playbook_variables",
    "preview_plan",
    "run_playbook",
]
