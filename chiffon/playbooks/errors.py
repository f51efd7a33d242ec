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


class UnreadableFile(PlaybooksError):
    """Raised when a playbook, task file or catalog file cannot be read or is not valid YAML;
    the message names the file (relative to the catalog root) and the reason."""

    code = "unreadable_file"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


class SuggestionNotFound(PlaybooksError):
    """Raised when no suggestion has the id given."""

    code = "suggestion_not_found"

    def __init__(self, suggestion_id: int) -> None:
        super().__init__(f"no suggestion has the id {suggestion_id}")
        self.suggestion_id = suggestion_id


class SuggestionNotOpen(PlaybooksError):
    """Raised when accepting or dismissing a suggestion that is not open: it was accepted,
    dismissed or implemented already (or by someone else at the same moment)."""

    code = "suggestion_not_open"

    def __init__(self, suggestion_id: int, status: str) -> None:
        super().__init__(f"suggestion {suggestion_id} is {status}, not open")
        self.suggestion_id = suggestion_id
        self.status = status


class NoMechanicalFix(PlaybooksError):
    """Raised when accepting a suggestion that has no diff: its fix is for a person to make."""

    code = "no_mechanical_fix"

    def __init__(self, suggestion_id: int, fix: str) -> None:
        super().__init__(
            f"suggestion {suggestion_id} has no diff to apply; make the fix by hand: {fix}"
        )
        self.suggestion_id = suggestion_id


class NotARepository(PlaybooksError):
    """Raised when accepting a suggestion for a catalog that is not inside a git repository:
    a fix is committed on a branch, never written into files nobody versions."""

    code = "not_a_repository"

    def __init__(self, catalog: str) -> None:
        super().__init__(
            f"{catalog} is not inside a git repository: run `git init` and commit the catalog "
            "there first, so that an accepted suggestion can be a branch to review"
        )
        self.catalog = catalog


class PatchDoesNotApply(PlaybooksError):
    """Raised when a suggestion's diff does not apply to the repository's checked-out commit
    (the file changed since the check, or has uncommitted changes the diff was made from)."""

    code = "patch_does_not_apply"

    def __init__(self, suggestion_id: int, reason: str) -> None:
        super().__init__(
            f"suggestion {suggestion_id} does not apply to the committed playbooks ({reason}): "
            "commit your changes, run `chiffon playbooks check` again, then accept the new id"
        )
        self.suggestion_id = suggestion_id


class GitFailed(PlaybooksError):
    """Raised when a git command that accepting needs fails for another reason (git missing,
    a branch of that name already pointing elsewhere); the message has git's own words."""

    code = "git_failed"

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"`git {command}` failed: {reason}")
        self.command = command


class UnknownEntry(PlaybooksError):
    """Raised when a check names an entry id the catalog does not have."""

    code = "unknown_entry"

    def __init__(self, ids: list[str], known: list[str]) -> None:
        super().__init__(
            f"the catalog has no entry {', '.join(repr(i) for i in ids)} "
            f"(it has: {', '.join(known)})"
        )
        self.ids = ids
