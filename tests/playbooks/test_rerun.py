"""``changed-on-rerun`` from the runs' own records: a deliberately non-idempotent playbook,
run twice for real through ``chiffon.System`` (ansible-runner, the machine's PostgreSQL),
is named with its task and file:line; one run alone, or a changed playbook, is not."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

from chiffon import System
from chiffon.catalog import load_catalog
from chiffon.playbooks.idempotence import rerun_changes
from chiffon.playbooks.suggestions import check_catalog
from chiffon.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def own_copy(seeded: Path) -> None:
    """Make this test's stamp playbook its own digest: the session's database is shared, and
    records of another test's identical playbook would count."""
    playbook = seeded / "playbooks" / "stamp.yml"
    playbook.write_text(playbook.read_text() + f"# {seeded.parent.name}\n")


def own_copy_of(playbook: Path, tag: str) -> None:
    playbook.write_text(playbook.read_text() + f"# {tag}\n")


def settings(tmp_path: Path, dsn: str) -> Settings:
    return Settings.load(
        home=tmp_path / "home", database_url=dsn, target_root=tmp_path / "target",
        audit_dir=tmp_path / "audit", log_level="warning",
    )  # fmt: skip


async def test_a_task_that_changed_on_a_second_identical_run_is_named_with_its_file_and_line(
    machine_dsn: str, seeded: Path, tmp_path: Path
) -> None:
    own_copy(seeded)
    catalog = load_catalog(seeded)
    with anyio.fail_after(180):
        async with System(settings(tmp_path, machine_dsn), catalog=catalog) as system:
            first = await system.run("stamp the lab", approver=lambda p: True)
            after_one = await rerun_changes(system.database, catalog, ["stamp"])
            second = await system.run("stamp the lab", approver=lambda p: True)
            found = await rerun_changes(system.database, catalog, ["stamp"])
            report = await check_catalog(
                system.database, catalog, ["stamp"], use_lint=False, run_id=second.run_id
            )
    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert after_one == []
    [finding] = found
    assert finding.rule == "changed-on-rerun"
    assert (finding.path, finding.line) == ("playbooks/stamp.yml", 14)
    assert "Write the time of this run" in finding.message
    assert "(on box)" in finding.message
    assert finding.entry == "stamp"
    [stored] = report.suggestions
    assert (stored.rule, stored.where, stored.run_id) == (
        "changed-on-rerun",
        "playbooks/stamp.yml:14",
        second.run_id,
    )


async def test_records_of_a_playbook_since_changed_say_nothing_about_it(
    machine_dsn: str, seeded: Path, tmp_path: Path
) -> None:
    own_copy(seeded)
    catalog = load_catalog(seeded)
    with anyio.fail_after(180):
        async with System(settings(tmp_path, machine_dsn), catalog=catalog) as system:
            for _ in range(2):
                assert (await system.run("stamp the lab", approver=lambda p: True)).status == (
                    "succeeded"
                )
            assert await rerun_changes(system.database, catalog, ["stamp"]) != []
            playbook = seeded / "playbooks" / "stamp.yml"
            playbook.write_text(playbook.read_text().replace("isoformat()", "date().isoformat()"))
            assert await rerun_changes(system.database, catalog, ["stamp"]) == []


async def test_changes_after_a_run_with_other_values_are_not_reported_as_not_idempotent(
    machine_dsn: str, tmp_path: Path
) -> None:
    homelab = tmp_path / "homelab"
    shutil.copytree(Path(__file__).parents[2] / "examples" / "homelab", homelab)
    own_copy_of(homelab / "playbooks" / "uptime-kuma.yml", tmp_path.name)
    catalog = load_catalog(homelab)
    with anyio.fail_after(300):
        async with System(settings(tmp_path, machine_dsn), catalog=catalog) as system:
            for request in ("deploy uptime kuma", "deploy uptime kuma on port 3002",
                            "deploy uptime kuma"):  # fmt: skip
                done = await system.run(request, approver=lambda p: True)
                assert done.status == "succeeded", done.reason
                assert done.steps[0].stats.changed > 0  # each one changed the port
            found = await rerun_changes(system.database, catalog, ["uptime-kuma"])
    assert found == []
