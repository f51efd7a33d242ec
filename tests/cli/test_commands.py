"""The ``chiffon`` command as a user runs it: a real process, real databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def chiffon(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chiffon", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    clean["CHIFFON_HOME"] = str(tmp_path / "home")
    clean["CHIFFON_LOG_FORMAT"] = "json"
    return clean


def test_help_lists_the_commands(env: dict[str, str]) -> None:
    result = chiffon("--help", env=env)
    assert result.returncode == 0
    for command in ("run", "approve", "reject", "modify", "cancel", "bench", "db"):
        assert command in result.stdout


def test_the_embedded_default_keeps_its_data_under_the_home(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = chiffon("audit", "runs", env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "no runs match" in result.stdout
    assert (tmp_path / "home" / "pgdata" / "PG_VERSION").exists()
    again = chiffon("audit", "runs", "--json", env=env, timeout=180)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == []


@pytest.mark.parametrize("scenario", ["local", "ask", "spawn"])
def test_bench_prints_ours_the_baseline_and_their_ratio(env: dict[str, str], scenario: str) -> None:
    result = chiffon("bench", scenario, "--messages", "3000", "--json", env=env)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["scenario"] == scenario
    assert figures["messages"] == 3000
    for key in ("seconds", "ours", "baseline", "ratio", "p50_us", "p99_us"):
        assert key in figures
    assert figures["ours"] > 0
    assert figures["baseline"] > 0
    assert figures["ratio"] == pytest.approx(figures["ours"] / figures["baseline"], rel=0.01)
    if scenario == "spawn":
        assert figures["bytes_per_actor"] > 0
    else:
        assert 0 < figures["p50_us"] <= figures["p99_us"]


def test_bench_persisted_measures_sync_sends_against_raw_copy(
    env: dict[str, str], machine_dsn: str
) -> None:
    env["CHIFFON_DATABASE_URL"] = machine_dsn
    result = chiffon(
        "bench", "persisted", "--messages", "2048", "--concurrency", "32", "--json", env=env
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["scenario"] == "persisted"
    assert figures["messages"] == 2048
    assert figures["concurrency"] == 32
    assert figures["ours"] > 0
    assert figures["baseline"] > 0


def test_bench_table_is_readable_without_json(env: dict[str, str]) -> None:
    result = chiffon("bench", "local", "--messages", "2000", env=env)
    assert result.returncode == 0, result.stderr
    header, _rule, row = result.stdout.strip().splitlines()
    assert header.split()[:2] == ["scenario", "messages"]
    assert row.startswith("local")


def test_a_refused_database_stops_start_up_with_one_sentence_and_no_password(
    env: dict[str, str],
) -> None:
    env["CHIFFON_DATABASE_URL"] = "postgresql://bob:hunter2@127.0.0.1:1/chiffon"
    result = chiffon("audit", "runs", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chiffon: ")
    assert "127.0.0.1:1" in lines[0]
    assert "hunter2" not in result.stderr + result.stdout


def test_an_invalid_setting_is_named_in_one_sentence(env: dict[str, str]) -> None:
    env["CHIFFON_MAILBOX_CAPACITY"] = "zero"
    result = chiffon("audit", "runs", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line
    assert "CHIFFON_MAILBOX_CAPACITY" in result.stderr
