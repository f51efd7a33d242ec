"""Scheduling by live capacity across processes: a step that needs GPU memory waits (the run
``paused``) while no agent online can take it, and goes on by itself when a desktop agent
with enough free VRAM joins, or when one's VRAM frees up; a run that waits too long fails,
saying what it waited for.

This machine has no GPU: the desktop agents' GPU figures come from a
``CHIFFON_RESOURCE_FILE`` laid over what they measure (the NVML path runs only where an NVIDIA
driver is). The step is the homelab's ``ollama`` entry, which needs VRAM.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from typing import Any

import pytest

from tests.recovery.lab import wait_until

from .lab import RemoteLab

pytestmark = [
    pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(600),
]  # fmt: skip

REQUEST = "Deploy Ollama"


def paused(lab: RemoteLab, run_id: uuid.UUID) -> dict[str, Any]:
    """Wait for the run to pause; the transition that paused it."""
    wait_until(
        lambda: lab.records.run(run_id)["status"] == "paused",
        lambda: f"the run to pause: {lab.records.run(run_id)}, {lab.records.steps(run_id)}",
    )
    move: dict[str, Any] = lab.records.moves("run", run_id)[-1]
    assert move["from_state"] == "running"
    assert move["to_state"] == "paused"
    return move


def test_a_gpu_run_pauses_without_a_gpu_agent_and_resumes_by_itself_on_a_desktop_agent_that_joins(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    entry = lab.gpu_entry()
    infra = lab.add_agent("infra")
    desk = lab.add_agent("desk")
    lab.start_agent(infra)
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", REQUEST)
    run_id = lab.run_of(run, since)

    move = paused(lab, run_id)

    assert f"step 1 ({entry.id})" in move["reason"]
    assert "gpu capability" in move["reason"]
    assert infra in move["reason"]
    assert [(s["playbook"], s["status"]) for s in lab.records.steps(run_id)] == [
        (entry.id, "pending")
    ]
    assert lab.executions() == Counter()
    # The infra agent has no GPU here, and says why rather than failing.
    infra_row = lab.agent_row(infra)
    assert infra_row is not None
    assert infra_row["capabilities"] == ["ansible"]
    assert infra_row["resources"]["gpus"] == []
    assert infra_row["resources"]["gpu_note"]
    print(f"an agent without a GPU reports gpu_note: {infra_row['resources']['gpu_note']!r}")

    gpu = lab.desktop_file(lab.root / "desk.json", vram_free_mb=entry.vram_mb + 4096)
    lab.start_agent(desk, kind="desktop", extra_env={"CHIFFON_RESOURCE_FILE": str(gpu)})
    summary = lab.summary(run)

    assert run.returncode == 0, lab.output(run)
    assert summary["status"] == "succeeded"
    assert lab.records.run_states(run_id) == [
        "received", "planning", "awaiting_approval", "approved", "running", "paused",
        "running", "succeeded",
    ]  # fmt: skip
    resumed = lab.records.moves("run", run_id)[-2]
    assert (resumed["from_state"], resumed["to_state"]) == ("paused", "running")
    assert desk in resumed["reason"]
    [step] = lab.records.steps(run_id)
    assert (step["attempt"], step["status"], step["agent"]) == (1, "succeeded", desk)
    assert len(lab.deployed(entry)) == 1
    assert lab.executions() == Counter({entry.id: 1})
    desk_row = lab.agent_row(desk)
    assert desk_row is not None
    assert desk_row["kind"] == "desktop"
    assert "gpu" in desk_row["capabilities"]
    [reported] = desk_row["resources"]["gpus"]
    assert reported["vram_free_mb"] == entry.vram_mb + 4096
    lab.assert_survived(run_id)


def test_a_gpu_run_paused_on_too_little_free_vram_goes_on_when_the_desktop_agents_vram_frees_up(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    entry = lab.gpu_entry()
    desk = lab.add_agent("desk")
    short = entry.vram_mb // 2
    gpu = lab.desktop_file(lab.root / "desk.json", vram_free_mb=short)
    lab.start_agent(desk, kind="desktop", extra_env={"CHIFFON_RESOURCE_FILE": str(gpu)})
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", REQUEST)
    run_id = lab.run_of(run, since)

    move = paused(lab, run_id)

    assert f"{entry.vram_mb} MB of free VRAM (best: {desk} with {short} MB)" in move["reason"]
    assert lab.executions() == Counter()

    # Something else on the machine lets go of its VRAM: the next heartbeat says so.
    lab.desktop_file(gpu, vram_free_mb=entry.vram_mb * 2)
    summary = lab.summary(run)

    assert run.returncode == 0, lab.output(run)
    assert summary["status"] == "succeeded"
    assert lab.records.run_states(run_id)[-3:] == ["paused", "running", "succeeded"]
    [step] = lab.records.steps(run_id)
    assert (step["attempt"], step["status"], step["agent"]) == (1, "succeeded", desk)
    assert lab.executions() == Counter({entry.id: 1})
    assert len(lab.deployed(entry)) == 1
    lab.assert_survived(run_id)


def test_a_gpu_run_that_waits_longer_than_the_capacity_limit_fails_saying_what_it_waited_for(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    entry = lab.gpu_entry()
    infra = lab.add_agent("infra")
    lab.start_agent(infra)

    done = lab.cli("run", "--yes", "--json", REQUEST, extra_env={"CHIFFON_CAPACITY_WAIT_S": "3"})

    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "failed"
    assert f"no agent could take step 1 ({entry.id}) within 3 s" in summary["reason"]
    assert "gpu capability" in summary["reason"]
    assert infra in summary["reason"]
    run_id = uuid.UUID(summary["run_id"])
    assert lab.records.run_states(run_id) == [
        "received", "planning", "awaiting_approval", "approved", "running", "paused", "failed",
    ]  # fmt: skip
    assert lab.records.run(run_id)["reason"] == summary["reason"]
    [step] = lab.records.steps(run_id)
    assert (step["status"], step["agent"]) == ("skipped", None)
    assert lab.executions() == Counter()
    lab.assert_survived(run_id)
