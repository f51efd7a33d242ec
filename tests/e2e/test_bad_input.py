"""Requests and invocations Chiffon must refuse, or answer with a question, before anything
runs: exit status 2 and one clear reason, nothing written to the target. Planning and the
refusal to ask a pipe need no database."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from chiffon.protocol import Plan, plan_hash
from tests.e2e.conftest import CATALOG, REQUEST, chiffon, query, words


def test_a_request_no_playbook_matches_is_rejected_naming_what_is_missing(
    env: dict[str, str], machine_dsn: str, tmp_path: Path
) -> None:
    done = chiffon(
        "run", "--catalog", str(CATALOG), "--yes", "--json", "install a minecraft server", env=env
    )
    assert done.returncode == 2, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "rejected"
    assert summary["steps"] == []
    assert 'no playbook for "minecraft"' in summary["reason"]

    (run,) = query(machine_dsn, "SELECT * FROM runs WHERE id = $1::uuid", summary["run_id"])
    assert run["status"] == "rejected"
    assert 'no playbook for "minecraft"' in run["reason"]
    target = tmp_path / "target"
    assert not target.exists() or not any(target.rglob("*"))


def test_a_question_without_a_terminal_is_recorded_and_said_in_a_sentence(
    env: dict[str, str], machine_dsn: str
) -> None:
    done = chiffon(
        "run", "--catalog", str(CATALOG), "--yes", "--json", "deploy grafana on the toaster",
        env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "rejected"
    assert 'no host or group "toaster"' in summary["reason"]
    assert "without a terminal no one can be asked" in words(done.stderr)


def test_planning_an_ambiguous_request_exits_2_with_the_question(
    home_env: dict[str, str],
) -> None:
    done = chiffon("plan", "--catalog", str(CATALOG), "set up monitoring", env=home_env)
    assert done.returncode == 2, done.stdout + done.stderr
    said = words(done.stdout)
    assert '"monitoring" could mean uptime-kuma, grafana, prometheus or node-exporter' in said
    assert "which should I plan?" in said


def test_planning_the_readme_request_as_json_shows_both_steps_and_their_plan_hash(
    home_env: dict[str, str],
) -> None:
    done = chiffon("plan", "--catalog", str(CATALOG), "--json", REQUEST, env=home_env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["status"] == "planned"
    plan = shown["plan"]
    assert plan["request"] == REQUEST
    assert [(s["playbook"], s["hosts"]) for s in plan["steps"]] == [
        ("uptime-kuma", ["core"]),
        ("uptime-kuma-monitors", ["core"]),
    ]
    assert plan["steps"][0]["variables"]["kuma_port"] == 3001
    # No secret in this plan: what is shown is the plan itself, and the hash is its hash.
    assert shown["plan_hash"] == plan_hash(Plan.model_validate(plan))


def test_run_without_yes_on_a_pipe_exits_2_with_one_sentence(home_env: dict[str, str]) -> None:
    done = chiffon(
        "run", "--catalog", str(CATALOG), REQUEST, env=home_env, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line == (
        "chiffon: stdin is not a terminal, so no one can be asked to approve: pass --yes to "
        "approve explicitly, or --check to see what the plan would change"
    )


def test_resume_without_yes_on_a_pipe_says_how_to_resume_without_a_terminal(
    home_env: dict[str, str],
) -> None:
    done = chiffon(
        "run", "--catalog", str(CATALOG), "--resume", "0aec4956", env=home_env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line == (
        "chiffon: stdin is not a terminal, so no one here can be asked to approve what the "
        "resumed run may need: pass --yes (chiffon run --resume 0aec4956 --yes) to approve it "
        "explicitly, or resume it at a terminal"
    )


def test_piped_output_is_not_cut_to_80_columns(home_env: dict[str, str]) -> None:
    done = chiffon("plan", "--catalog", str(CATALOG), "deploy pihole", env=home_env)
    assert done.returncode == 0, done.stderr
    # Rich lays out a pipe at 80 columns: the image tag was cut ("pihole/pihole:2…").
    assert "pihole_image=pihole/pihole:2024.07.0" in done.stdout
    assert "pihole_web_password=default, change it" in done.stdout
