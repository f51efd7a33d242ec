"""The README's command, approved with ``--yes``, on the embedded database: what it prints,
what it writes, what it records, and that running it again changes nothing."""

from __future__ import annotations

import getpass
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import CATALOG, REQUEST, chiffon, embedded_server, query, words

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PLAYBOOKS = ["uptime-kuma", "uptime-kuma-monitors"]
RUN_STATES = ["received", "planning", "awaiting_approval", "approved", "running", "succeeded"]
STEP_STATES = ["pending", "dispatched", "running", "succeeded"]


def run_yes(env: dict[str, str]) -> dict[str, Any]:
    done = chiffon("run", "--catalog", str(CATALOG), "--yes", "--json", REQUEST, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def trail(audit: Path) -> list[dict[str, str]]:
    """The audit repository's commits, newest first, as their trailers."""
    keys = ("Run-Id", "Milestone", "Status", "Services")
    fields = "%x1f".join(f"%(trailers:key={k},valueonly,separator=%x2c)" for k in keys)
    log = subprocess.run(
        ["git", "-C", str(audit), "log", f"--format={fields}%x1e"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    records = [r.strip("\n") for r in log.split("\x1e") if r.strip()]
    return [dict(zip(keys, r.split("\x1f"), strict=True)) for r in records]


def test_the_readme_request_with_yes_deploys_kuma_with_a_monitor_per_portal_and_records_it(
    home_env: dict[str, str], tmp_path: Path
) -> None:
    user = getpass.getuser()
    first = run_yes(home_env)

    assert first["status"] == "succeeded"
    assert first["reason"] is None
    assert [s["playbook"] for s in first["steps"]] == PLAYBOOKS
    for step in first["steps"]:
        assert step["status"] == "succeeded"
        assert step["hosts"] == ["core"]
        assert step["attempt"] == 1
        assert step["stats"]["failed"] == step["stats"]["unreachable"] == 0
        assert step["stats"]["changed"] > 0
    assert first["cost_usd"] == 0
    assert first["seconds"] > 0
    # Files-only: what the playbooks queued instead of doing is said, with its command.
    compose_file = tmp_path / "target" / "core" / "srv" / "uptime-kuma" / "compose.yaml"
    monitors_file = compose_file.parent / "data" / "chiffon-monitors.json"
    assert first["left_for_you"] == [
        f"core: restart uptime-kuma: docker compose -f {compose_file} up -d",
        f"core: import the monitors into Uptime Kuma (Settings > Backup > Import): {monitors_file}",
    ]

    kuma = tmp_path / "target" / "core" / "srv" / "uptime-kuma"
    compose = yaml.safe_load((kuma / "compose.yaml").read_text())
    assert compose["services"]["uptime-kuma"]["ports"] == ["3001:3001"]
    assert compose["services"]["uptime-kuma"]["image"] == "louislam/uptime-kuma:1.23.16"
    portals = yaml.safe_load((CATALOG / "files" / "proxy-hosts.yml").read_text())["portals"]
    monitors = json.loads((kuma / "data" / "chiffon-monitors.json").read_text())["monitorList"]
    assert [m["name"] for m in monitors] == [p["name"] for p in portals]
    assert [m["url"] for m in monitors] == [
        f"https://{p['domain']}{p.get('path', '/')}" for p in portals
    ]

    # The embedded server is joined for the rest of the test, so each process below does not
    # start and stop it again.
    with embedded_server(tmp_path / "home") as dsn:
        second = run_yes(home_env)
        assert second["status"] == "succeeded"
        assert [s["playbook"] for s in second["steps"]] == PLAYBOOKS
        assert [s["stats"]["changed"] for s in second["steps"]] == [0, 0]
        assert second["left_for_you"] == []  # nothing changed: nothing to restart

        run_ids = [first["run_id"], second["run_id"]]
        runs = query(dsn, "SELECT * FROM runs WHERE id = ANY($1::uuid[])", run_ids)
        assert {str(r["id"]): r["status"] for r in runs} == dict.fromkeys(run_ids, "succeeded")
        for run_id in run_ids:
            check_records(dsn, run_id, user)

        commits = trail(tmp_path / "audit")
        for run_id in run_ids:
            assert [(c["Milestone"], c["Status"], c["Services"]) for c in commits
                    if c["Run-Id"] == run_id] == [
                ("finished", "succeeded", "uptime-kuma"),
                ("approved", "approved", "uptime-kuma"),
            ]  # fmt: skip

        listed = chiffon("audit", "runs", "--json", env=home_env)
        assert listed.returncode == 0, listed.stderr
        by_id = {r["id"]: r for r in json.loads(listed.stdout)}
        for run_id in run_ids:
            assert by_id[run_id]["status"] == "succeeded"
            assert by_id[run_id]["request"] == REQUEST
            assert by_id[run_id]["services"] == ["uptime-kuma"]

        shown = chiffon("audit", "show", first["run_id"][:8], env=home_env)
        assert shown.returncode == 0, shown.stderr
        text = words(shown.stdout)
        assert first["run_id"] in text
        assert f"approve by {user} via yes" in text
        for n, playbook in enumerate(PLAYBOOKS, start=1):
            # Numbered as `chiffon run` numbers them ("step 1/2 uptime-kuma on core").
            assert f"{n} {playbook} 1 succeeded core" in text
            assert f"step {n} {playbook} a1" in text

        changes = chiffon("audit", "changes", "--service", "uptime-kuma", "--json", env=home_env)
        assert changes.returncode == 0, changes.stderr
        changed = {c["run_id"]: c for c in json.loads(changes.stdout)}
        assert set(changed) == set(run_ids)
        assert [s["playbook"] for s in changed[first["run_id"]]["steps"]] == PLAYBOOKS


def check_records(dsn: str, run_id: str, user: str) -> None:
    """The run's approval, steps and transitions, as the database holds them."""
    (run,) = query(dsn, "SELECT * FROM runs WHERE id = $1::uuid", run_id)
    assert run["requested_by"] == user
    assert run["services"] == ["uptime-kuma"]
    assert run["cost_usd"] == 0

    (approval,) = query(dsn, "SELECT * FROM approvals WHERE run_id = $1::uuid", run_id)
    assert (approval["decision"], approval["channel"], approval["approver"]) == (
        "approve", "yes", user,
    )  # fmt: skip
    assert approval["plan_hash"] == run["plan_hash"]
    (plan,) = query(dsn, "SELECT * FROM plans WHERE run_id = $1::uuid", run_id)
    assert (plan["revision"], plan["plan_hash"]) == (1, run["plan_hash"])

    steps = query(dsn, "SELECT * FROM steps WHERE run_id = $1::uuid ORDER BY position", run_id)
    assert [(s["position"], s["attempt"], s["playbook"], s["status"]) for s in steps] == [
        (0, 1, "uptime-kuma", "succeeded"),
        (1, 1, "uptime-kuma-monitors", "succeeded"),
    ]
    assert {s["approval_id"] for s in steps} == {approval["id"]}
    assert {s["plan_hash"] for s in steps} == {run["plan_hash"]}

    moves = query(
        dsn,
        "SELECT from_state, to_state FROM transitions WHERE entity_kind = 'run' "
        "AND entity_id = $1 ORDER BY seq",
        run_id,
    )
    assert [m["from_state"] for m in moves] == [None, *RUN_STATES[:-1]]
    assert [m["to_state"] for m in moves] == RUN_STATES
    for step in steps:
        moves = query(
            dsn,
            "SELECT to_state FROM transitions WHERE entity_kind = 'step' AND entity_id = $1 "
            "ORDER BY seq",
            str(step["id"]),
        )
        assert [m["to_state"] for m in moves] == STEP_STATES
