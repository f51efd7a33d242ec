"""``chiffon run --resume`` after a SIGKILL: at the approval prompt, in the middle of a step,
and after the approval expired while nothing was running."""

from __future__ import annotations

from collections import Counter

import pytest

from chiffon.orchestrator.states import RUN_TERMINAL

from .lab import Lab, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def attempts(lab: Lab, run_id: object) -> list[tuple[str, int, str]]:
    return [(s["playbook"], s["attempt"], s["status"]) for s in lab.records.steps(run_id)]  # type: ignore[arg-type]


def test_a_run_killed_at_the_approval_prompt_proposes_the_same_plan_again_and_runs_it_once(
    lab: Lab,
) -> None:
    child, run_id = lab.at_prompt()
    lab.kill(child)
    assert lab.records.run(run_id)["status"] == "awaiting_approval"
    assert lab.records.steps(run_id) == []
    [plan] = lab.records.plans(run_id)

    resumed = lab.chiffon("--resume", str(run_id), "--yes")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert lab.records.run(run_id)["status"] == "succeeded"
    assert [p["plan_hash"] for p in lab.records.plans(run_id)] == [plan["plan_hash"]]
    [approval] = lab.records.approvals(run_id)
    assert approval["decision"] == "approve"
    assert approval["plan_hash"] == plan["plan_hash"]
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "succeeded"), ("uptime-kuma-monitors", 1, "succeeded"),
    ]  # fmt: skip
    assert {s["approval_id"] for s in lab.records.steps(run_id)} == {approval["id"]}
    assert lab.executions() == Counter({"uptime-kuma": 1, "uptime-kuma-monitors": 1})
    assert lab.records.run_states(run_id) == [
        "received", "planning", "awaiting_approval", "approved", "running", "succeeded",
    ]  # fmt: skip
    lab.records.assert_attempts_consistent(run_id)


def test_a_run_killed_mid_step_resumes_with_a_new_attempt_of_that_step_and_nothing_else(
    lab: Lab,
) -> None:
    run_id, workers = lab.kill_mid_step("uptime-kuma")
    assert lab.records.run(run_id)["status"] not in RUN_TERMINAL

    resumed = lab.chiffon("--resume", str(run_id), "--yes")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert lab.alive(workers) == [], "the killed attempt's Ansible outlived the resume"
    assert lab.ansible_processes() == []
    assert lab.records.run(run_id)["status"] == "succeeded"
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "interrupted"),
        ("uptime-kuma", 2, "succeeded"),
        ("uptime-kuma-monitors", 1, "succeeded"),
    ]
    interrupted = lab.records.steps(run_id)[0]
    assert interrupted["reason"] is not None
    assert "stopped" in interrupted["reason"]
    assert lab.records.run_states(run_id) == [
        "received", "planning", "awaiting_approval", "approved", "running", "interrupted",
        "running", "succeeded",
    ]  # fmt: skip
    assert len(lab.records.approvals(run_id)) == 1
    lab.records.assert_attempts_consistent(run_id)
    # Nothing ran more often than it has attempts: a re-run always has its own record.
    per_playbook = Counter(s["playbook"] for s in lab.records.steps(run_id))
    assert lab.executions() == Counter({"uptime-kuma": 2, "uptime-kuma-monitors": 1})
    assert all(per_playbook[name] >= n for name, n in lab.executions().items())


def test_an_approval_that_expired_while_the_run_was_killed_is_asked_for_again_not_used(
    lab: Lab,
) -> None:
    run_id, workers = lab.kill_mid_step("uptime-kuma", approval_ttl_s=3)
    [first] = lab.records.approvals(run_id)
    wait_until(
        lambda: lab.records.fetch("SELECT now() > $1 AS past", first["expires_at"])[0]["past"],
        "the approval to expire",
    )

    resumed = lab.chiffon("--resume", str(run_id), "--yes")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert lab.alive(workers) == []
    assert lab.records.run(run_id)["status"] == "succeeded"
    assert lab.records.run_states(run_id) == [
        "received", "planning", "awaiting_approval", "approved", "running", "interrupted",
        "awaiting_approval", "approved", "running", "succeeded",
    ]  # fmt: skip
    old, new = lab.records.approvals(run_id)
    assert old["id"] == first["id"]
    assert new["decision"] == "approve"
    assert new["plan_hash"] == old["plan_hash"]
    assert new["decided_at"] > old["expires_at"]
    assert len(lab.records.plans(run_id)) == 1
    steps = lab.records.steps(run_id)
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "interrupted"),
        ("uptime-kuma", 2, "succeeded"),
        ("uptime-kuma-monitors", 1, "skipped"),
        ("uptime-kuma-monitors", 2, "succeeded"),
    ]
    # What ran after the resume ran on the new approval; the expired one authorised no more.
    assert [s["approval_id"] for s in steps] == [old["id"], new["id"], old["id"], new["id"]]
    assert lab.executions() == Counter({"uptime-kuma": 2, "uptime-kuma-monitors": 1})
    lab.records.assert_attempts_consistent(run_id)
