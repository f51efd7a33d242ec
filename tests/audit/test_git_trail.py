"""The git audit trail against a real git in a temporary directory."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from pathlib import Path

import anyio
import pytest

from chiffon.actors import id_to_uuid, new_id
from chiffon.audit.errors import AuditUnavailable
from chiffon.audit.git_trail import AUTHOR_EMAIL, GitTrail, step_file

SERVICES = ("uptime-kuma", "grafana")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def run_files(run_id: uuid.UUID) -> dict[str, str | bytes | dict[str, object]]:
    return {
        "request.md": "# Request\n\n> Deploy Uptime Kuma\n",
        "plan.json": {"plan_hash": "sha256:abc", "run_id": run_id, "plan": {"steps": []}},
        "approval.json": {"decision": "approve", "approver": "alice"},
    }


async def test_each_milestone_is_one_commit_with_the_runs_trailers(tmp_path: Path) -> None:
    repo = tmp_path / "audit"
    trail = GitTrail(repo)
    run_id = id_to_uuid(new_id())
    approved = await trail.commit_milestone(
        run_id, "approved", run_files(run_id), status="approved", services=SERVICES,
        subject="Approved: Deploy Uptime Kuma",
    )  # fmt: skip
    finished = await trail.commit_milestone(
        run_id,
        "finished",
        {
            step_file(1, "uptime-kuma", 1): {"status": "succeeded", "stats": {"nas": {"ok": 3}}},
            "summary.json": {"status": "succeeded"},
        },
        status="succeeded",
        services=SERVICES,
        subject="Succeeded: Deploy Uptime Kuma",
    )

    log = git(repo, "log", "--format=%H%n%an <%ae>%n%s%n%(trailers)%x00").split("\0")
    commits = [c.strip().splitlines() for c in log if c.strip()]
    assert [c[0] for c in commits[:2]] == [finished, approved]
    assert commits[0][1:] == [
        f"Chiffon <{AUTHOR_EMAIL}>",
        "Succeeded: Deploy Uptime Kuma",
        f"Run-Id: {run_id}",
        "Status: succeeded",
        "Services: uptime-kuma, grafana",
        "Milestone: finished",
    ]
    assert commits[1][3:] == [
        f"Run-Id: {run_id}",
        "Status: approved",
        "Services: uptime-kuma, grafana",
        "Milestone: approved",
    ]
    assert len(commits) == 3  # and the layout commit that created the repository
    assert git(repo, "status", "--porcelain") == ""

    history = await trail.history(run_id)
    assert [(c.sha, c.milestone, c.status) for c in history] == [
        (finished, "finished", "succeeded"),
        (approved, "approved", "approved"),
    ]
    assert history[0].services == SERVICES
    assert [c.sha for c in await trail.runs_for_service("grafana")] == [finished, approved]
    assert await trail.runs_for_service("graf") == []


async def test_files_are_laid_out_in_one_directory_per_run(tmp_path: Path) -> None:
    repo = tmp_path / "audit"
    trail = GitTrail(repo)
    run_id = id_to_uuid(new_id())
    await trail.commit_milestone(
        run_id, "approved", run_files(run_id), status="approved", services=SERVICES, subject="a"
    )
    await trail.commit_milestone(
        run_id,
        "finished",
        {step_file(2, "kuma-monitors", 1): {"status": "failed"}, "summary.json": {"n": 1}},
        status="failed",
        services=SERVICES,
        subject="b",
    )
    run_dir = trail.run_dir(run_id)
    assert run_dir.parent == repo / "runs"
    assert run_dir.name.endswith(f"-{run_id}")
    made = dt.date.fromisoformat(run_dir.name[:10])  # the run's date, UTC
    assert abs(dt.datetime.now(dt.UTC).date() - made) <= dt.timedelta(days=1)
    tracked = sorted(git(repo, "ls-files").split())
    prefix = f"runs/{run_dir.name}"
    assert tracked == sorted(
        [
            ".gitignore",
            "README.md",
            f"{prefix}/approval.json",
            f"{prefix}/plan.json",
            f"{prefix}/request.md",
            f"{prefix}/steps/02-kuma-monitors-a1.json",
            f"{prefix}/summary.json",
        ]
    )
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan == {"plan_hash": "sha256:abc", "run_id": str(run_id), "plan": {"steps": []}}
    assert (run_dir / "request.md").read_text().startswith("# Request")
    readme = (repo / "README.md").read_text()
    for documented in ("runs/<YYYY-MM-DD>-<run id>/", "Run-Id:", "Services:", "redacted"):
        assert documented in readme


async def test_a_repeated_milestone_with_nothing_new_is_not_committed_twice(
    tmp_path: Path,
) -> None:
    trail = GitTrail(tmp_path / "audit")
    run_id = id_to_uuid(new_id())
    files = run_files(run_id)
    first = await trail.commit_milestone(
        run_id, "approved", files, status="approved", services=SERVICES, subject="a"
    )
    again = await trail.commit_milestone(
        run_id, "approved", files, status="approved", services=SERVICES, subject="a"
    )
    assert again == first
    finished = await trail.commit_milestone(
        run_id, "finished", {}, status="cancelled", services=SERVICES, subject="nothing ran"
    )
    assert finished != first  # a milestone is recorded even when no file changed


async def test_paths_outside_the_run_directory_are_refused(tmp_path: Path) -> None:
    trail = GitTrail(tmp_path / "audit")
    run_id = id_to_uuid(new_id())
    for bad in ("../escape.md", "/etc/passwd", "steps/../../x", ""):
        with pytest.raises(ValueError, match="is not a path inside a run directory"):
            await trail.commit_milestone(
                run_id, "finished", {bad: "x"}, status="failed", services=(), subject="x"
            )
    assert not (tmp_path / "escape.md").exists()


async def test_a_missing_git_is_named_in_one_sentence(tmp_path: Path) -> None:
    trail = GitTrail(tmp_path / "audit", git="git-that-is-not-installed")
    with pytest.raises(AuditUnavailable, match=r"git-that-is-not-installed\) is not installed"):
        await trail.commit_milestone(
            id_to_uuid(new_id()), "approved", {}, status="approved", services=(), subject="x"
        )


async def test_concurrent_committers_in_one_process_each_get_their_commit(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "audit"
    run_ids = [id_to_uuid(new_id()) for _ in range(8)]
    shas: dict[uuid.UUID, str] = {}

    async def commit(run_id: uuid.UUID) -> None:
        # A trail each, as separate actors would have: the lock is the file's, not the object's.
        shas[run_id] = await GitTrail(repo).commit_milestone(
            run_id, "approved", run_files(run_id), status="approved", services=SERVICES,
            subject=f"run {run_id}",
        )  # fmt: skip

    async with anyio.create_task_group() as tg:
        for run_id in run_ids:
            tg.start_soon(commit, run_id)
    assert len(set(shas.values())) == len(run_ids)
    git(repo, "fsck", "--strict")
    assert int(git(repo, "rev-list", "--count", "HEAD")) == len(run_ids) + 1
    assert git(repo, "status", "--porcelain") == ""


CHILD = """
import sys, anyio
from pathlib import Path
from chiffon.actors import id_to_uuid, new_id
from chiffon.audit.git_trail import GitTrail

async def main() -> None:
    trail = GitTrail(Path(sys.argv[1]))
    for n in range(int(sys.argv[2])):
        run_id = id_to_uuid(new_id())
        await trail.commit_milestone(
            run_id, "finished", {"summary.json": {"n": n}, "request.md": sys.argv[3]},
            status="succeeded", services=["grafana"], subject=f"{sys.argv[3]} {n}",
        )

anyio.run(main)
"""


def test_two_processes_committing_to_one_trail_do_not_corrupt_it(tmp_path: Path) -> None:
    repo = tmp_path / "audit"
    per_process = 6
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(repo), str(per_process), name])
        for name in ("first", "second")
    ]
    assert [child.wait(timeout=100) for child in children] == [0, 0]
    git(repo, "fsck", "--strict")
    subjects = git(repo, "log", "--format=%s").splitlines()
    assert len(subjects) == 2 * per_process + 1
    for name in ("first", "second"):
        assert sorted(s for s in subjects if s.startswith(name)) == sorted(
            f"{name} {n}" for n in range(per_process)
        )
    assert git(repo, "status", "--porcelain") == ""
    assert len(list((repo / "runs").iterdir())) == 2 * per_process
