"""Start-up reconciliation on its own: another ``chiffon run`` takes over what killed
processes left, without being asked to resume anything."""

from __future__ import annotations

import json
import uuid

import pytest

from .lab import Lab

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_another_run_interrupts_a_run_killed_mid_step_and_leaves_one_awaiting_approval(
    lab: Lab,
) -> None:
    child, waiting = lab.at_prompt()
    lab.kill(child)
    killed, workers = lab.kill_mid_step("uptime-kuma")

    other = lab.chiffon("--yes", "--json", "Deploy Grafana")

    assert other.returncode == 0, other.stdout + other.stderr
    assert json.loads(other.stdout)["status"] == "succeeded"
    other_id = uuid.UUID(json.loads(other.stdout)["run_id"])
    assert lab.records.run(other_id)["status"] == "succeeded"
    assert lab.alive(workers) == [], "the killed attempt's Ansible outlived the reconciliation"

    run = lab.records.run(killed)
    assert run["status"] == "interrupted"
    assert "stopped" in run["reason"]
    assert lab.records.run_states(killed)[-2:] == ["running", "interrupted"]
    steps = lab.records.steps(killed)
    assert [(s["playbook"], s["attempt"], s["status"]) for s in steps] == [
        ("uptime-kuma", 1, "interrupted"), ("uptime-kuma-monitors", 1, "pending"),
    ]  # fmt: skip
    assert "stopped" in steps[0]["reason"]
    assert lab.executions()["uptime-kuma"] == 1
    assert lab.executions()["uptime-kuma-monitors"] == 0

    assert lab.records.run(waiting)["status"] == "awaiting_approval"
    assert lab.records.run_states(waiting) == ["received", "planning", "awaiting_approval"]
    assert lab.records.steps(waiting) == []
    # Its proposal is still pending: nobody decided, and anyone may yet.
    assert [a["decision"] for a in lab.records.approvals(waiting)] == ["pending"]
