"""``chiffon audit`` as a user runs it: a real process over the machine's PostgreSQL, with
runs the test wrote as the orchestrator would."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tests.audit.seed import Seeded, Step, database, seed_run
from tests.audit.test_queries import FAILURE


def chiffon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chiffon", "audit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=100,
        check=False,
    )


class Runs:
    def __init__(self, dsn: str) -> None:
        tag = secrets.token_hex(3)
        self.kuma = f"uptime-kuma-{tag}"
        self.grafana = f"grafana-{tag}"

        async def seed() -> tuple[Seeded, Seeded, Seeded]:
            async with database(dsn) as db:
                ok = await seed_run(
                    db,
                    request="Deploy Uptime Kuma and add the existing portals to its monitors",
                    status="succeeded",
                    services=[self.kuma],
                    steps_=[Step("uptime-kuma", changed=4), Step("kuma-monitors", changed=2)],
                    llm_costs=[0.0125, 0.0031],
                )
                failed = await seed_run(
                    db,
                    request="Install Grafana",
                    status="failed",
                    services=[self.grafana, self.kuma],
                    steps_=[Step("grafana", status="failed", changed=0, failure=FAILURE)],
                    approver="bob",
                )
                old = await seed_run(
                    db,
                    request="Deploy Uptime Kuma, long ago",
                    status="succeeded",
                    services=[self.kuma],
                    steps_=[Step("uptime-kuma", changed=7)],
                    created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=20),
                )
            return ok, failed, old

        self.ok, self.failed, self.old = anyio.run(seed)


@pytest.fixture
def env(tmp_path: Path, machine_dsn: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    clean["CHIFFON_HOME"] = str(tmp_path / "home")
    clean["CHIFFON_LOG_FORMAT"] = "json"
    clean["CHIFFON_DATABASE_URL"] = machine_dsn
    return clean


@pytest.fixture
def runs(machine_dsn: str) -> Runs:
    return Runs(machine_dsn)


def test_audit_runs_filters_and_prints_a_table_or_json(env: dict[str, str], runs: Runs) -> None:
    listed = chiffon("runs", "--service", runs.kuma, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [
        str(runs.failed.run_id), str(runs.ok.run_id), str(runs.old.run_id),
    ]  # fmt: skip
    week = chiffon("runs", "--service", runs.kuma, "--since", "7d", "--json", env=env)
    assert [r["id"] for r in json.loads(week.stdout)] == [
        str(runs.failed.run_id), str(runs.ok.run_id),
    ]  # fmt: skip
    failed = chiffon("runs", "--status", "failed", "--service", runs.kuma, "--json", env=env)
    (only,) = json.loads(failed.stdout)
    assert only["id"] == str(runs.failed.run_id)
    assert only["services"] == [runs.grafana, runs.kuma]

    table = chiffon("runs", "--service", runs.grafana, env=env)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.strip().splitlines()
    assert header.split()[:4] == ["run", "created", "(UTC)", "status"]
    assert row.startswith(str(runs.failed.run_id))
    assert " failed " in row
    assert "Install Grafana" in row
    empty = chiffon("runs", "--service", "no-such-service", env=env)
    assert empty.stdout.strip() == "no runs match"


def test_audit_show_renders_the_runs_header_steps_failure_and_timeline(
    env: dict[str, str], runs: Runs
) -> None:
    prefix = runs.ok.run_id.hex[:28]
    shown = chiffon("show", prefix, env=env)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert str(runs.ok.run_id) in out
    assert "Deploy Uptime Kuma and add the existing portals to its monitors" in out
    assert "succeeded" in out
    assert runs.ok.plan_hash in out
    assert "approve by alice via terminal" in out
    assert "2 model call(s) $0.0156" in out
    assert "nas ok=3 changed=4 failed=0 unreachable=0 skipped=1" in out
    lines = out.splitlines()
    order = [
        next(n for n, line in enumerate(lines) if marker in line)
        for marker in (
            "run.requested",
            "awaiting_approval → approved",
            "step 1 uptime-kuma a1",
            "step 2 kuma-monitors a1",
            "run.finished",
        )
    ]
    assert order == sorted(order)
    assert "2 step.output events not shown (--output)" in out

    failed = chiffon("show", str(runs.failed.run_id), env=env)
    assert failed.returncode == 0, failed.stderr
    assert "failure: step 1 grafana a1 on nas, task Start the container" in failed.stdout
    assert "fatal: [nas]: FAILED! port 3000 is already in use" in failed.stdout  # not markup
    assert "approve by bob" in failed.stdout


def test_audit_show_json_is_the_whole_timeline(env: dict[str, str], runs: Runs) -> None:
    shown = chiffon("show", str(runs.ok.run_id), "--json", "--output", env=env)
    assert shown.returncode == 0, shown.stderr
    timeline = json.loads(shown.stdout)
    assert timeline["run"]["id"] == str(runs.ok.run_id)
    assert timeline["llm_cost_usd"] == pytest.approx(0.0156)
    assert [s["playbook"] for s in timeline["steps"]] == ["uptime-kuma", "kuma-monitors"]
    assert timeline["steps"][0]["stats"]["nas"]["changed"] == 4
    times = [dt.datetime.fromisoformat(e["at"]) for e in timeline["events"]]
    assert times == sorted(times)
    kinds = [e["kind"] for e in timeline["events"] if e["source"] == "message"]
    assert kinds.count("step.output") == 2
    assert kinds[0] == "run.requested"
    assert kinds[-1] == "run.finished"


def test_audit_changes_lists_what_each_run_changed_on_a_service(
    env: dict[str, str], runs: Runs
) -> None:
    changes = chiffon("changes", "--service", runs.kuma, "--json", env=env)
    assert changes.returncode == 0, changes.stderr
    found = json.loads(changes.stdout)
    assert [c["run_id"] for c in found] == [
        str(runs.failed.run_id), str(runs.ok.run_id), str(runs.old.run_id),
    ]  # fmt: skip
    assert [(s["playbook"], s["changed"]) for s in found[1]["steps"]] == [
        ("uptime-kuma", {"nas": 4}),
        ("kuma-monitors", {"nas": 2}),
    ]
    table = chiffon("changes", "--service", runs.kuma, "--since", "1d", env=env)
    assert table.returncode == 0, table.stderr
    assert "1 uptime-kuma a1" in table.stdout
    assert "nas=4" in table.stdout
    assert str(runs.old.run_id) not in table.stdout


def test_audit_failures_lists_the_failure_records(env: dict[str, str], runs: Runs) -> None:
    listed = chiffon("failures", "--service", runs.grafana, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (failure,) = json.loads(listed.stdout)
    assert failure["run_id"] == str(runs.failed.run_id)
    assert (failure["host"], failure["task"]) == ("nas", "Start the container")
    table = chiffon("failures", "--service", runs.grafana, "--since", "1h", env=env)
    assert "port 3000 is already in use" in table.stdout


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["show", "f" * 24], "no run id starts with 'ffffffffffffffffffffffff'"),
        (["show", "0"], "run id prefix '0' matches more than one run"),
        (["show", "kuma"], "'kuma' is not a run id"),
        (["runs", "--since", "7x"], "--since '7x' is not an age like 30m, 12h, 7d or 2w"),
        (["runs", "--status", "faild"], "--status 'faild' is not a run state"),
    ],
)
def test_a_bad_run_id_or_filter_is_one_sentence_and_exit_2(
    env: dict[str, str], runs: Runs, args: list[str], sentence: str
) -> None:
    result = chiffon(*args, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"chiffon: {sentence}")
