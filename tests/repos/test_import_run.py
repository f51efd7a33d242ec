"""A repository as it is, imported and run: ``chiffon catalog import`` drafts the catalog,
``chiffon run`` plans and runs one role of the site playbook on localhost through its tag
and flag (no wrapper), the second run changes nothing, and the repository's own files are
never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.repos.conftest import tree_digest

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]


def chiffon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chiffon", *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, machine_dsn: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    clean.update(
        CHIFFON_HOME=str(tmp_path / "home"),
        CHIFFON_TARGET_ROOT=str(tmp_path / "target"),
        CHIFFON_AUDIT_DIR=str(tmp_path / "audit"),
        CHIFFON_DATABASE_URL=machine_dsn,
    )
    return clean


def run_yes(catalog: Path, request: str, env: dict[str, str]) -> dict[str, Any]:
    done = chiffon("run", "--catalog", str(catalog), "--yes", "--json", request, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def test_an_imported_role_of_the_site_playbook_runs_on_localhost_and_again_changes_nothing(
    homelab: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    before = tree_digest(homelab)
    imported = chiffon("catalog", "import", str(homelab), "-o", str(homelab / "catalog.yml"),
                       env=env)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    checked = chiffon("catalog", "check", str(homelab), env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    first = run_yes(homelab, "deploy whoami", env)

    assert first["status"] == "succeeded", first
    [step] = first["steps"]
    assert step["playbook"] == "whoami"
    assert step["hosts"] == ["localhost"]
    # Ansible's recap names only localhost: the Pis' play (and their vault) was never reached.
    assert step["touched"] == ["localhost"]
    assert step["stats"]["changed"] > 0
    assert step["stats"]["failed"] == step["stats"]["unreachable"] == 0
    data = tmp_path / "data"
    compose = yaml.safe_load((data / "opt" / "whoami" / "compose.yml").read_text())
    assert compose["services"]["whoami"]["image"] == "traefik/whoami:v1.10.3"
    assert compose["services"]["whoami"]["ports"] == ["8080:80"]
    # The meta dependency ran with it (its tag is inherited); jellyfin did not.
    assert (data / "etc" / "motd").read_text() == "Welcome to the homelab\n"
    assert not (data / "media").exists()

    second = run_yes(homelab, "deploy whoami", env)

    assert second["status"] == "succeeded", second
    assert [s["stats"]["changed"] for s in second["steps"]] == [0]
    after = tree_digest(homelab)
    assert after.pop("catalog.yml")
    assert after == before
