"""``chiffon playbooks check/accept/dismiss`` and ``chiffon audit suggestions`` as a user runs
them (``python -m chiffon`` in a real process, the machine's PostgreSQL, real git), and the
review printed after ``chiffon run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.playbooks.conftest import HOMELAB, ROOT, git

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SUGGESTION_KEYS = {
    "id", "created_at", "updated_at", "catalog", "entry", "rule", "source", "severity", "path",
    "line", "message", "why", "fix", "diff", "status", "fingerprint", "run_id", "branch",
    "commit",
}  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, machine_dsn: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    clean.update(
        CHIFFON_HOME=str(tmp_path / "home"), CHIFFON_TARGET_ROOT=str(tmp_path / "target"),
        CHIFFON_AUDIT_DIR=str(tmp_path / "audit"), CHIFFON_DATABASE_URL=machine_dsn,
    )  # fmt: skip
    return clean


def chiffon(
    *args: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chiffon", *args], capture_output=True, text=True, env=env,
        timeout=timeout, cwd=ROOT, check=False,
    )  # fmt: skip


def checked(catalog: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    done = chiffon("playbooks", "check", "--catalog", str(catalog), "--json", *extra, env=env)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_check_prints_each_suggestion_with_its_place_why_and_fix_and_exits_1(
    seeded: Path, env: dict[str, str]
) -> None:
    done = chiffon("playbooks", "check", "--catalog", str(seeded), "--no-lint", "--diff", env=env)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "command-without-guard playbooks/commands.yml:5 [diff]" in out
    assert "restart-without-handler playbooks/restarts.yml:12 [diff]" in out
    assert "why: Ansible reports a command as changed on every run" in out
    assert "fix: The command only reads: add `changed_when: false`." in out
    assert "+      changed_when: false" in out
    assert f"{seeded}: 20 open, 20 new" in out


def test_check_json_has_the_report_and_every_suggestion_field(
    seeded: Path, env: dict[str, str]
) -> None:
    report = checked(seeded, env, "--no-lint", "commands", "hosts")
    assert set(report) == {
        "catalog", "entries", "lint_error", "opened", "implemented", "seconds", "suggestions"
    }  # fmt: skip
    assert report["entries"] == ["commands", "hosts"]
    assert report["lint_error"] is None
    assert set(report["seconds"]) == {"rules", "records", "store"}
    assert len(report["suggestions"]) == 5
    for item in report["suggestions"]:
        assert set(item) == SUGGESTION_KEYS
        assert item["status"] == "open"
    assert sorted(report["opened"]) == sorted(s["id"] for s in report["suggestions"])
    again = checked(seeded, env, "--no-lint", "commands", "hosts")
    assert again["opened"] == []
    assert [s["id"] for s in again["suggestions"]] == [s["id"] for s in report["suggestions"]]


def test_the_homelab_catalog_has_nothing_to_suggest_with_ansible_lint_included(
    env: dict[str, str], own_database: str
) -> None:
    # Its own database: the session's holds homelab runs of other tests, in other target
    # roots, whose first runs look like reruns that changed things.
    env = {**env, "CHIFFON_DATABASE_URL": own_database}
    done = chiffon("playbooks", "check", "--catalog", str(HOMELAB), env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{HOMELAB}: 0 open, 0 new" in done.stdout


def test_accept_commits_the_diff_on_a_branch_and_the_audit_lists_it(
    repository: Path, env: dict[str, str]
) -> None:
    report = checked(repository, env, "--no-lint", "restarts")
    [suggestion] = report["suggestions"]
    done = chiffon("playbooks", "accept", str(suggestion["id"]), "--json", env=env)
    assert done.returncode == 0, done.stderr
    accepted = json.loads(done.stdout)
    assert set(accepted) == SUGGESTION_KEYS
    assert accepted["status"] == "accepted"
    assert accepted["branch"] == f"chiffon/suggestion-{suggestion['id']}"
    assert git(repository, "rev-parse", accepted["branch"]).strip() == accepted["commit"]
    assert git(repository, "status", "--porcelain") == ""
    changed = git(repository, "diff", "--name-only", f"main..{accepted['branch']}").split()
    assert changed == ["playbooks/restarts.yml"]
    message = git(repository, "log", "-1", "--format=%B", accepted["branch"])
    assert f"Chiffon-Suggestion: {suggestion['id']}" in message
    listed = chiffon("audit", "suggestions", "--status", "accepted", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert suggestion["id"] in [s["id"] for s in json.loads(listed.stdout)["suggestions"]]
    twice = chiffon("playbooks", "accept", str(suggestion["id"]), env=env)
    assert twice.returncode == 2
    assert f"suggestion {suggestion['id']} is accepted, not open" in twice.stderr
    # Merged, the finding is gone: the next check marks the suggestion implemented.
    git(repository, "merge", "-q", "--ff-only", accepted["branch"])
    after = checked(repository, env, "--no-lint", "restarts")
    assert after["implemented"] == [suggestion["id"]]


def test_accepting_a_suggestion_without_a_diff_says_to_fix_it_by_hand(
    repository: Path, env: dict[str, str]
) -> None:
    report = checked(repository, env, "--no-lint", "commands")
    [manual] = [s for s in report["suggestions"] if s["diff"] is None]
    done = chiffon("playbooks", "accept", str(manual["id"]), env=env)
    assert done.returncode == 2
    assert f"suggestion {manual['id']} has no diff to apply; make the fix by hand" in done.stderr


def test_accept_outside_a_repository_is_refused_and_the_suggestion_stays_open(
    seeded: Path, env: dict[str, str]
) -> None:
    report = checked(seeded, env, "--no-lint", "hosts")
    target = report["suggestions"][0]
    done = chiffon("playbooks", "accept", str(target["id"]), env=env)
    assert done.returncode == 2
    assert "is not inside a git repository" in done.stderr
    listed = json.loads(chiffon("audit", "suggestions", "--status", "open", "--json",
                                "--limit", "100000", env=env).stdout)  # fmt: skip
    assert target["id"] in [s["id"] for s in listed["suggestions"]]
    assert listed["total"] >= len(report["suggestions"])


def test_suggestions_are_listed_a_page_at_a_time_saying_how_many_there_are(
    seeded: Path, env: dict[str, str]
) -> None:
    checked(seeded, env, "--no-lint", "hosts", "commands")
    every = json.loads(chiffon("audit", "suggestions", "--json", "--limit", "100000",
                               env=env).stdout)  # fmt: skip
    total = every["total"]
    assert total == len(every["suggestions"]) >= 2
    page = chiffon("audit", "suggestions", "--limit", "1", "--offset", "1", env=env)
    assert page.returncode == 0, page.stderr
    assert page.stdout.splitlines()[-1] == (
        f"showing 2-2 of {total}" + (": --offset 2 for the next page" if total > 2 else "")
    )
    second = json.loads(chiffon("audit", "suggestions", "--json", "--limit", "1", "--offset",
                                "1", env=env).stdout)  # fmt: skip
    assert [s["id"] for s in second["suggestions"]] == [every["suggestions"][1]["id"]]


def test_dismiss_then_dismiss_again(seeded: Path, env: dict[str, str]) -> None:
    report = checked(seeded, env, "--no-lint", "hosts")
    target = report["suggestions"][0]["id"]
    done = chiffon("playbooks", "dismiss", str(target), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"suggestion {target} dismissed"
    again = chiffon("playbooks", "dismiss", str(target), env=env)
    assert again.returncode == 2
    assert f"suggestion {target} is dismissed, not open" in again.stderr
    missing = chiffon("playbooks", "dismiss", "999999999", env=env)
    assert missing.returncode == 2
    assert "no suggestion has the id 999999999" in missing.stderr


def test_bad_input_is_named(seeded: Path, env: dict[str, str]) -> None:
    pin = chiffon("playbooks", "check", "--catalog", str(seeded), "--pin", "nginx", env=env)
    assert pin.returncode == 2
    assert "--pin 'nginx' is not IMAGE=TAG" in pin.stderr
    entry = chiffon("playbooks", "check", "--catalog", str(seeded), "--no-lint", "nope", env=env)
    assert entry.returncode == 2
    assert "the catalog has no entry 'nope'" in entry.stderr
    status = chiffon("audit", "suggestions", "--status", "bogus", env=env)
    assert status.returncode == 2
    assert "--status 'bogus' is not a status" in status.stderr


def test_after_a_second_identical_run_the_run_shows_the_task_that_changed_again(
    seeded: Path, env: dict[str, str]
) -> None:
    playbook = seeded / "playbooks" / "stamp.yml"
    playbook.write_text(playbook.read_text() + f"# {seeded.parent.name}\n")
    run = ("run", "--yes", "stamp the lab", "--catalog", str(seeded))
    first = chiffon(*run, env=env, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "open suggestion" not in first.stdout
    # The review does not pay ansible-lint's seconds: it says what check would add.
    assert "ansible-lint has not seen 1 of this run's playbooks as they are" in first.stdout
    second = chiffon(*run, env=env, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "1 open suggestion for this run's playbooks" in second.stdout
    assert "changed-on-rerun playbooks/stamp.yml:14" in second.stdout
    assert 'task "Write the time of this run" changed again' in second.stdout
