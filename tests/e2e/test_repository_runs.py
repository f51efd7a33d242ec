"""``chiffon plan --check``, ``chiffon run --check`` and ``chiffon run --yes`` on a repository
laid out like a real one (tests/repos/pi-media: plays of ``hosts: media``, an INI inventory
whose three hosts are all this machine), as a user runs them: no terminal.

What ran where is read from Ansible's own recap (the repository's callback plugin writes it
to $HOST_RECAP_FILE), not from Chiffon's records.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import chiffon

REPO = Path(__file__).resolve().parents[1] / "repos" / "pi-media"
REQUEST = "deploy jellyfin on pi2"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "pi-media"
    shutil.copytree(REPO, root)
    return root


def recap_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**env, "HOST_RECAP_FILE": str(tmp_path / "recap.jsonl")}


def recaps(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "recap.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_plan_check_shows_the_diff_on_the_planned_host_only_and_changes_nothing(
    repo: Path, tmp_path: Path, home_env: dict[str, str]
) -> None:
    done = chiffon(
        "plan", "--catalog", str(repo), "--check", "--json", REQUEST,
        env=recap_env(home_env, tmp_path), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    (step,) = out["plan"]["steps"]
    assert step["hosts"] == ["pi2"]
    # Where each value comes from: none is the plan's, so none is passed as an extra var.
    assert out["variable_sources"] == [
        {
            "jellyfin_port": "roles/jellyfin/defaults/main.yml:1 (role jellyfin defaults)",
            "jellyfin_config_dir": "inventory/group_vars/media.yml:2 (group media)",
            "jellyfin_cache_mb": "inventory/host_vars/pi2.yml:1 (host pi2)",
        }
    ]
    (diff,) = out["dry_run"]
    assert "jellyfin.conf" in diff
    assert "+config_dir=/mnt/usb/jellyfin" in diff  # the repository's group_vars
    assert [list(r) for r in recaps(tmp_path)] == [["pi2"]]
    assert not (tmp_path / "target" / "pi2" / "jellyfin").exists()


def test_run_check_previews_records_and_executes_nothing(
    repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    done = chiffon(
        "run", "--catalog", str(repo), "--check", "--json", REQUEST,
        env=recap_env(env, tmp_path), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["check"] is True
    assert out["status"] == "rejected"
    assert "check only" in out["reason"]
    (diff,) = out["dry_run"]
    assert "+port=8096" in diff
    assert [list(r) for r in recaps(tmp_path)] == [["pi2"]]  # the preview, and no run
    assert not (tmp_path / "target" / "pi2" / "jellyfin").exists()


def test_run_yes_touches_the_approved_host_only_and_the_audit_says_so(
    repo: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    done = chiffon(
        "run", "--catalog", str(repo), "--yes", "--json", REQUEST,
        env=recap_env(env, tmp_path), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    (step,) = out["steps"]
    assert (step["hosts"], step["touched"]) == (["pi2"], ["pi2"])
    assert [list(r) for r in recaps(tmp_path)] == [["pi2"]]
    assert (tmp_path / "target" / "pi2" / "jellyfin" / "jellyfin.conf").is_file()
    assert not (tmp_path / "target" / "pi1").exists()
    shown = chiffon("audit", "show", out["run_id"], "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    (record,) = json.loads(shown.stdout)["steps"]
    assert (record["hosts"], record["hosts_run"]) == (["pi2"], ["pi2"])
