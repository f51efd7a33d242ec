"""A repository's requirements.yml (tests/repos/pi-media: a role from a local tarball, no
internet): a role the playbook needs and nobody installed is refused before approval, in
Ansible's words and with the command that fixes it; that command installs it into Chiffon's
own directory, and the run then finds it. A playbook that cannot load keeps Ansible's whole
error block."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from chiffon.agents.infra import run_playbook
from chiffon.catalog import Catalog, load_catalog
from chiffon.planning.errors import InvalidPlan
from chiffon.planning.validation import validate_plan
from chiffon.protocol import Plan, PlanStep

REPO = Path(__file__).resolve().parents[1] / "repos" / "pi-media"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "pi-media"
    shutil.copytree(REPO, root)
    with tarfile.open(root / "vendor" / "node_exporter.tar.gz", "w:gz") as tar:
        tar.add(root / "vendor" / "node_exporter", arcname="node_exporter")
    monkeypatch.setenv("HOST_RECAP_FILE", str(tmp_path / "recap.jsonl"))
    return root


def plan_of(catalog: Catalog, playbook: str, host: str) -> Plan:
    step = PlanStep(playbook=playbook, hosts=(host,))
    plan = Plan(request="test", steps=(step,), planner="catalog", confidence=1.0)
    return validate_plan(plan, catalog)


def chiffon(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    return subprocess.run(
        [sys.executable, "-m", "chiffon", *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


async def test_a_missing_role_is_refused_before_approval_and_installed_by_the_command(
    root: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(root)
    with pytest.raises(InvalidPlan) as caught:
        plan_of(catalog, "node-exporter", "pi1")
    (reason,) = caught.value.reasons
    assert reason.startswith(
        "step 1 (node-exporter): role node_exporter (used at playbooks/monitoring.yml:2) is not "
        "installed: [ERROR]: the role 'node_exporter' was not found in "
    )
    assert reason.endswith(f"Fix: chiffon catalog requirements --install {root}")

    listed = chiffon("catalog", "requirements", str(root))
    assert listed.returncode == 1
    assert "role node_exporter (vendor/node_exporter.tar.gz) requirements.yml:5" in listed.stdout

    installed = chiffon("catalog", "requirements", "--install", str(root))
    assert installed.returncode == 0, installed.stderr
    assert "node_exporter was installed successfully" in installed.stdout
    assert (root / ".chiffon" / "requirements" / "roles" / "node_exporter" / "tasks").is_dir()
    assert (root / ".chiffon" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not (root / "roles" / "node_exporter").exists()  # the repository's own files

    (step,) = plan_of(catalog, "node-exporter", "pi1").steps
    outcome = await run_playbook(
        catalog, step.playbook, step.hosts, step.variables,
        target_root=tmp_path / "target", work_dir=tmp_path / "work",
    )  # fmt: skip
    assert outcome.status == "succeeded", outcome.failure
    assert (tmp_path / "target" / "pi1" / "node_exporter.conf").read_text() == "port=9100\n"
    recap = [json.loads(line) for line in (tmp_path / "recap.jsonl").read_text().splitlines()]
    assert [list(r) for r in recap] == [["pi1"]]


async def test_a_playbook_that_cannot_load_keeps_ansible_s_whole_error(
    root: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(root)
    # Past validation (an agent given a step directly): Ansible's own error, whole.
    outcome = await run_playbook(
        catalog, "node-exporter", ["pi1"], {},
        target_root=tmp_path / "target", work_dir=tmp_path / "work",
    )  # fmt: skip
    assert outcome.status == "failed"
    assert outcome.failure is not None
    lines = outcome.failure.error.splitlines()
    assert lines[0].startswith("[ERROR]: the role 'node_exporter' was not found in ")
    assert lines[1] == f"Origin: {root}/playbooks/monitoring.yml:5:7"
    assert "5     - node_exporter" in lines
