"""Playbook intelligence: lint, Chiffon's own rules, and improvement suggestions.

``lint.lint`` runs ansible-lint (cached by the files' digest); ``rules`` holds Chiffon's own
rules over the YAML (``documents`` reads it with line marks, ``playbook`` follows a playbook
into its tasks, ``edits`` writes mechanical fixes as diffs); ``idempotence`` reads the runs'
records for tasks that changed on a rerun; ``suggestions.check_catalog`` puts them together
and stores the result through ``store`` (``tables``: the ``suggestions`` table);
``accept.commit_on_branch`` commits an accepted diff on a branch. Only the light names are
imported here, so that importing ``chiffon.playbooks.errors`` costs no SQLAlchemy.
"""

from __future__ import annotations

from chiffon.playbooks.errors import LintOutsideRoot, LintUnavailable, PlaybooksError
from chiffon.playbooks.lint import LintFinding, lint

__all__ = ["LintFinding", "LintOutsideRoot", "LintUnavailable", "PlaybooksError", "lint"]
