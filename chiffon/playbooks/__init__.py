"""Playbook intelligence: lint, Chiffon's own rules, and improvement suggestions.

``lint`` runs ansible-lint (cached by the files' digest). The domain reaches PostgreSQL only
through ``chiffon.database.Database``.
"""

from __future__ import annotations

from chiffon.playbooks.errors import LintOutsideRoot, LintUnavailable, PlaybooksError
from chiffon.playbooks.lint import LintFinding, lint

__all__ = ["LintFinding", "LintOutsideRoot", "LintUnavailable", "PlaybooksError", "lint"]
