"""Accepting a suggestion: its diff becomes a commit on a new branch of the playbook
repository; the checked-out branch, its index and its files are untouched."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from chiffon.catalog import load_catalog
from chiffon.playbooks.accept import commit_on_branch
from chiffon.playbooks.errors import GitFailed, NotARepository, PatchDoesNotApply
from chiffon.playbooks.rules import run_rules
from tests.playbooks.conftest import git


def hunks(diff: str) -> list[str]:
    """A diff's hunk lines, headers and git's function context left out."""
    lines = []
    for line in diff.splitlines():
        if line.startswith(("diff --git", "index ", "--- ", "+++ ")):
            continue
        lines.append(line.split(" @@")[0] + " @@" if line.startswith("@@") else line)
    return lines


def restart_fix(root: Path) -> str:
    catalog = load_catalog(root)
    [finding] = [f for f in run_rules(catalog, ["restarts"]) if f.rule == "restart-without-handler"]
    assert finding.diff is not None
    return finding.diff


async def test_an_accepted_diff_is_a_commit_on_a_new_branch_and_main_is_untouched(
    repository: Path,
) -> None:
    diff = restart_fix(repository)
    head = git(repository, "rev-parse", "HEAD").strip()
    before = (repository / "playbooks" / "restarts.yml").read_text()
    with anyio.fail_after(30):
        done = await commit_on_branch(repository, suggestion_id=7, diff=diff, message="fix\n")
    assert done.branch == "chiffon/suggestion-7"
    assert done.base == head
    assert git(repository, "rev-parse", "main").strip() == head
    assert git(repository, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(repository, "status", "--porcelain") == ""
    assert (repository / "playbooks" / "restarts.yml").read_text() == before
    assert git(repository, "rev-parse", done.branch).strip() == done.commit
    assert git(repository, "rev-parse", f"{done.commit}^").strip() == head
    assert hunks(git(repository, "diff", f"main..{done.branch}")) == hunks(diff)
    asked = await anyio.run_process(
        ["git", "-C", str(repository), "config", "user.email"], check=False
    )
    configured = asked.stdout.decode().strip()
    author = git(repository, "log", "-1", "--format=%ae", done.branch).strip()
    assert author == (configured or "chiffon@localhost")


async def test_a_catalog_in_a_subdirectory_of_the_repository_is_patched_in_place(
    tmp_path: Path, seeded: Path
) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "A repository holding the catalog in catalog/")
    diff = restart_fix(seeded)
    with anyio.fail_after(30):
        done = await commit_on_branch(seeded, suggestion_id=8, diff=diff, message="fix\n")
    changed = git(tmp_path, "diff", "--name-only", f"main..{done.branch}").split()
    assert changed == ["catalog/playbooks/restarts.yml"]


async def test_a_catalog_outside_any_repository_is_refused(seeded: Path) -> None:
    with pytest.raises(NotARepository, match="is not inside a git repository"):
        await commit_on_branch(seeded, suggestion_id=9, diff=restart_fix(seeded), message="x\n")


async def test_a_diff_that_no_longer_applies_to_the_committed_files_is_refused(
    repository: Path,
) -> None:
    diff = restart_fix(repository)
    playbook = repository / "playbooks" / "restarts.yml"
    playbook.write_text(playbook.read_text().replace("Restart the app", "Bounce the app"))
    git(repository, "commit", "-q", "-am", "Renamed the restart")
    with pytest.raises(PatchDoesNotApply, match="does not apply to the committed playbooks"):
        await commit_on_branch(repository, suggestion_id=10, diff=diff, message="x\n")
    assert git(repository, "branch", "--list", "chiffon/*") == ""


async def test_accepting_twice_under_the_same_id_does_not_move_the_branch(
    repository: Path,
) -> None:
    diff = restart_fix(repository)
    with anyio.fail_after(30):
        done = await commit_on_branch(repository, suggestion_id=11, diff=diff, message="x\n")
    with pytest.raises(GitFailed, match="update-ref"):
        await commit_on_branch(repository, suggestion_id=11, diff=diff, message="y\n")
    assert git(repository, "rev-parse", done.branch).strip() == done.commit
