"""A run's records, laid out as trail files and committed: what a milestone commit holds."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import anyio

from chiffon.audit.git_trail import GitTrail
from chiffon.audit.queries import run_timeline
from chiffon.audit.trail_files import REDACTED, trail_files
from tests.audit.seed import Step, database, seed_run
from tests.audit.test_queries import FAILURE


async def test_a_finished_runs_files_hold_its_records_with_secrets_redacted(
    pg_dsn: str, tmp_path: Path
) -> None:
    service = f"pihole-{secrets.token_hex(3)}"
    async with database(pg_dsn) as db:
        seeded = await seed_run(
            db,
            request="Install Pi-hole with the admin password hunter2",
            status="failed",
            services=[service],
            steps_=[
                Step("pihole", variables={"admin_password": "hunter2", "port": 8080}),
                Step("backup", status="failed", changed=0, failure=FAILURE),
            ],
            llm_costs=[0.002],
        )
        timeline = await run_timeline(db, seeded.run_id)
    files = trail_files(timeline, secret_variables={"pihole": {"admin_password"}})
    assert sorted(files) == [
        "approval.json",
        "plan.json",
        "request.md",
        "steps/01-pihole-a1.json",
        "steps/02-backup-a1.json",
        "summary.json",
    ]
    trail = GitTrail(tmp_path / "audit")
    sha = await trail.commit_milestone(
        seeded.run_id, "finished", files, status="failed", services=[service], subject="Failed"
    )
    run_dir = trail.run_dir(seeded.run_id)

    def read(name: str) -> dict[str, object]:
        return json.loads((run_dir / name).read_text())  # type: ignore[no-any-return]

    plan = read("plan.json")
    assert plan["plan_hash"] == seeded.plan_hash
    assert plan["plan"]["steps"][0]["variables"] == {"admin_password": REDACTED, "port": 8080}  # type: ignore[index]
    first = read("steps/01-pihole-a1.json")
    assert first["variables"] == {"admin_password": REDACTED, "port": 8080}
    assert first["status"] == "succeeded"
    assert first["failure"] is None
    assert first["stats"] == {
        "nas": {"ok": 3, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 1}
    }
    second = read("steps/02-backup-a1.json")
    assert second["failure"]["error"] == FAILURE.error  # type: ignore[index]
    assert read("approval.json")["approver"] == "alice"
    summary = read("summary.json")
    assert summary["status"] == "failed"
    assert summary["llm_cost_usd"] == 0.002
    assert summary["failures"] == 1
    assert "hunter2" in (run_dir / "request.md").read_text()  # the request is as typed
    shown = await anyio.run_process(
        ["git", "-C", str(trail.repo_dir), "show", "--stat", "--format=%H", sha]
    )
    committed = shown.stdout.decode()
    assert committed.startswith(sha)
    assert "steps/02-backup-a1.json" in committed
