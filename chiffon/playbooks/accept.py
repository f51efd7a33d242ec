"""Accepting a suggestion: its diff committed on a new branch of the playbook repository.

Git's plumbing does it without touching the user's checked-out branch, index or working
tree: the checked-out commit's tree is read into a temporary index, the diff is applied to
that index (``git apply --cached``), and the resulting tree is committed on top of that
commit and given a new branch, ``chiffon/suggestion-<id>``. The user reviews and merges it
like any other branch. A catalog outside any git repository is refused (``NotARepository``)
rather than ``git init``-ed: creating a repository in someone's directory is a decision for
them.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import anyio

from chiffon.playbooks.errors import GitFailed, NotARepository, PatchDoesNotApply

BRANCH_PREFIX = "chiffon/suggestion-"
# Who commits when the repository has no identity configured.
FALLBACK_NAME = "Chiffon"
FALLBACK_EMAIL = "chiffon@localhost"


@dataclass(frozen=True, slots=True)
class Accepted:
    """Where an accepted suggestion went: the repository, the branch and its commit, and the
    commit it was made on."""

    repository: Path
    branch: str
    commit: str
    base: str


async def commit_on_branch(
    catalog: Path, *, suggestion_id: int, diff: str, message: str
) -> Accepted:
    """Commit ``diff`` (paths relative to ``catalog``) on a new branch
    ``chiffon/suggestion-<suggestion_id>`` made from the repository's checked-out commit.

    Raises ``NotARepository`` when ``catalog`` is not inside a git work tree with a commit,
    ``PatchDoesNotApply`` when the diff does not apply to that commit's files, and
    ``GitFailed`` when git is missing or refuses (the branch exists already).
    """
    catalog = await anyio.to_thread.run_sync(catalog.resolve)
    env = await _environment(catalog)
    inside = await _git(catalog, env, "rev-parse", "--show-toplevel", "--show-prefix", check=False)
    if inside.returncode != 0:
        raise NotARepository(str(catalog))
    top, _, prefix = inside.stdout.decode().partition("\n")
    repository = Path(top.strip())
    prefix = prefix.strip().rstrip("/")
    head = await _git(catalog, env, "rev-parse", "--verify", "HEAD^{commit}", check=False)
    if head.returncode != 0:
        raise NotARepository(str(catalog))
    base = head.stdout.decode().strip()
    branch = f"{BRANCH_PREFIX}{suggestion_id}"
    with tempfile.TemporaryDirectory(prefix="chiffon-accept-") as scratch:
        index_env = {**env, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        await _git(repository, index_env, "read-tree", base)
        apply = ["apply", "--cached", "--recount", "--whitespace=nowarn"]
        if prefix:
            apply.append(f"--directory={prefix}")
        applied = await _git(repository, index_env, *apply, "-", stdin=diff.encode(), check=False)
        if applied.returncode != 0:
            reason = applied.stderr.decode(errors="replace").strip().splitlines()
            raise PatchDoesNotApply(suggestion_id, reason[-1] if reason else "git apply failed")
        tree = (await _git(repository, index_env, "write-tree")).stdout.decode().strip()
    made = await _git(repository, env, "commit-tree", tree, "-p", base, stdin=message.encode())
    commit = made.stdout.decode().strip()
    # The empty old value makes update-ref refuse a branch that already exists.
    await _git(repository, env, "update-ref", f"refs/heads/{branch}", commit, "")
    return Accepted(repository=repository, branch=branch, commit=commit, base=base)


async def _environment(catalog: Path) -> dict[str, str]:
    # No GIT_DIR-style variables from a hook that may have started us.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    configured = await _git(catalog, env, "config", "user.email", check=False)
    if configured.returncode != 0 or not configured.stdout.strip():
        env.update(
            GIT_AUTHOR_NAME=FALLBACK_NAME,
            GIT_AUTHOR_EMAIL=FALLBACK_EMAIL,
            GIT_COMMITTER_NAME=FALLBACK_NAME,
            GIT_COMMITTER_EMAIL=FALLBACK_EMAIL,
        )
    return env


async def _git(
    where: Path,
    env: dict[str, str],
    *args: str,
    stdin: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    command = ["git", "-C", str(where), *args]
    try:
        done = await anyio.run_process(command, input=stdin, env=env, check=False)
    except OSError as exc:
        raise GitFailed(args[0], f"cannot run git: {exc}") from None
    if check and done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise GitFailed(" ".join(args[:2]), reason)
    return done


def commit_message(
    suggestion_id: int, rule: str, where: str, message: str, why: str, fix: str
) -> str:
    """The commit message of an accepted suggestion, with trailers naming it."""
    return (
        f"{rule}: {message}\n\n{why}\n\n{fix}\n\n"
        f"Chiffon-Suggestion: {suggestion_id}\nChiffon-Rule: {rule}\nChiffon-Where: {where}\n"
    )
