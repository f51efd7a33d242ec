"""Playbook intelligence's errors, one class per condition."""

from __future__ import annotations

from chiffon.errors import ChiffonError


class PlaybooksError(ChiffonError):
    """Base class of the errors of ``chiffon.playbooks``."""

    code = "playbooks_error"


class LintUnavailable(PlaybooksError):
    """Raised by ``lint`` when ansible-lint itself cannot run: it is not installed, it exits
    with a status that is not "clean" or "findings" (a broken configuration, no files), or
    its report is not the JSON it promises. The message carries the end of its stderr."""

    code = "lint_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(f"ansible-lint could not run: {reason}")
        self.reason = reason


class LintOutsideRoot(PlaybooksError):
    """Raised by ``lint`` when a path to lint is not under the given root: findings name
    files relative to the root, so every file must be inside it."""

    code = "lint_outside_root"

    def __init__(self, path: str, root: str) -> None:
        super().__init__(f"{path} is not under {root}: lint only files inside the root")
