"""What a check finds: one ``Finding`` per problem, from Chiffon's rules or ansible-lint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

Source = Literal["chiffon", "ansible-lint"]
Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a catalog's automation.

    ``rule`` is the rule id (``command-without-guard``, ``yaml[line-length]``); ``path`` is
    relative to the catalog root and ``line`` 1-based; ``message`` says what was found,
    ``why`` why it matters and ``fix`` what to do; ``diff`` is a unified diff (paths relative
    to the catalog root) when the fix is mechanical. ``key`` names the thing found (a task, a
    variable, an image) independently of its line, so that moving it does not make it a new
    suggestion; ``entry`` is the catalog entry it concerns, ``None`` for shared files.
    """

    rule: str
    source: Source
    path: str
    line: int
    message: str
    why: str
    fix: str
    key: str
    entry: str | None = None
    diff: str | None = None
    severity: Severity = "warning"

    def fingerprint(self, catalog: str) -> str:
        """Stable across line moves and re-checks: catalog, rule, entry, file and key."""
        text = "\0".join((catalog, self.rule, self.entry or "", self.path, self.key))
        return hashlib.sha256(text.encode()).hexdigest()
