"""``chiffon bench api`` on the machine's PostgreSQL, small: its three results in the bench's
JSON shape, every event delivered to every subscriber, and nothing left in the database (the
seeded runs and the bench's user are deleted). No timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from sqlalchemy import func, select

from chiffon.access.tables import users
from chiffon.run_records import runs
from tests.audit.seed import database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SHAPE = {
    "scenario", "messages", "concurrency", "seconds", "ours", "baseline", "ratio",
    "baseline_seconds", "p50_us", "p99_us", "target", "meets",
}  # fmt: skip


def test_bench_api_prints_listing_fanout_and_start_up_beside_bare_fastapi(
    machine_dsn: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    env.update(CHIFFON_DATABASE_URL=machine_dsn, CHIFFON_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-m", "chiffon", "bench", "api", "--json", "--runs", "300",
         "--messages", "100", "--concurrency", "2", "--subscribers", "3", "--events", "20",
         "--starts", "1"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["scenario"] for r in found] == ["api-runs", "api-sse", "api-ready"]
    for result in found:
        assert set(result) >= SHAPE
        assert result["ours"] > 0
        assert result["baseline"] > 0
    listing, fanout, ready = found
    assert listing["runs_in_database"] == 300
    assert listing["not_ok"] == {}
    assert listing["baseline_not_ok"] == {}
    assert (fanout["delivered"], fanout["baseline_delivered"]) == (60, 60)
    assert fanout["problems"] == []
    assert len(ready["ready_s_each"]) == 1

    async def left() -> tuple[int, int]:
        async with database(machine_dsn) as db:
            bench_runs = await db.fetch_one(
                select(func.count().label("n"))
                .select_from(runs)
                .where(runs.c.requested_by.like("chiffon-bench-%"))
            )
            bench_users = await db.fetch_one(
                select(func.count().label("n"))
                .select_from(users)
                .where(users.c.name.like("chiffon-bench-%"))
            )
        assert bench_runs is not None
        assert bench_users is not None
        return int(bench_runs["n"]), int(bench_users["n"])

    assert anyio.run(left) == (0, 0)
