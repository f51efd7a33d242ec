"""Faults injected for real into a homelab spread over processes: a ``chiffon agent`` killed
with SIGKILL in the middle of a step, cut off from the broker mid-step long enough to be
given up on (and back while its playbook still runs), and the orchestrator (``chiffon run``)
killed with SIGKILL while a remote agent runs its step.

Each test ends by checking what survived: every attempt in exactly one terminal state through
an unbroken chain of transitions, every dispatched attempt in its agent's ledger with the
state the database holds (no acknowledged message lost either way), and no playbook executed
more often than it has attempts (nothing ran twice without a new attempt record).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from collections import Counter
from typing import Any

import pytest

from tests.recovery.lab import README_REQUEST, wait_until

from .lab import RemoteLab, TcpProxy

# Generous: the machine is shared, and these runs sleep on purpose in their playbooks.
pytestmark = [
    pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(600),
]  # fmt: skip


def attempts(lab: RemoteLab, run_id: uuid.UUID) -> list[tuple[str, int, str]]:
    return [(s["playbook"], s["attempt"], s["status"]) for s in lab.records.steps(run_id)]


def running_on_agent(lab: RemoteLab, run_id: uuid.UUID, playbook: str) -> dict[str, Any]:
    """Wait until ``playbook`` runs on its agent (its execution counted); its step row."""

    def running() -> dict[str, Any] | None:
        if playbook not in lab.executions():
            return None
        return next(
            (s for s in lab.records.steps(run_id)
             if s["playbook"] == playbook and s["status"] == "running"),
            None,
        )  # fmt: skip

    return wait_until(
        running,
        lambda: f"{playbook} to run: {lab.records.steps(run_id)}, {lab.executions()}",
    )


def ledger_times(lab: RemoteLab, name: str) -> dict[tuple[uuid.UUID, int], tuple[float, float]]:
    """When the agent recorded each attempt started, and finished (wall clock, its ledger)."""
    path = lab.agent_home(name) / f"ledger-{name}.sqlite3"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        rows = db.execute("SELECT step_id, attempt, started_at, finished_at FROM attempts")
        return {(uuid.UUID(s), a): (started, finished) for s, a, started, finished in rows}
    finally:
        db.close()


def status_reports(lab: RemoteLab, run_id: uuid.UUID) -> list[dict[str, Any]]:
    """The step status reports the orchestrators journaled for this run."""
    rows = lab.records.fetch(
        "SELECT body FROM messages WHERE kind = 'step.status.report'"
        " AND body ->> 'run_id' = $1 ORDER BY id",
        str(run_id),
    )
    return [json.loads(r["body"]) if isinstance(r["body"], str) else r["body"] for r in rows]


def test_an_agent_killed_mid_step_leaves_an_interrupted_attempt_and_its_restart_runs_a_new_one(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    name = lab.add_agent()
    agent = lab.start_agent(name, sleep_s=60)
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", README_REQUEST)
    run_id = lab.run_of(run, since)
    killed_step = running_on_agent(lab, run_id, "uptime-kuma")
    workers = lab.sleeping_module(name)

    lab.kill(agent)

    # The run hears that its agent is gone (missed heartbeats): the attempt is interrupted,
    # naming the agent, and the new attempt waits (paused) for an agent to take it.
    wait_until(
        lambda: lab.records.run(run_id)["status"] == "paused",
        lambda: f"the run to pause: {lab.records.run_states(run_id)}, {attempts(lab, run_id)}",
    )
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "interrupted"), ("uptime-kuma", 2, "pending"),
        ("uptime-kuma-monitors", 1, "pending"),
    ]  # fmt: skip
    [interrupted] = [s for s in lab.records.steps(run_id) if s["id"] == killed_step["id"]]
    assert name in interrupted["reason"]
    assert "lost its agent" in interrupted["reason"]
    # What the killed agent had started outlived it (ansible's workers have sessions of their
    # own), and its ledger still says the attempt started: nothing has taken it over yet.
    assert lab.alive(workers) != []
    assert lab.ledger(name)[(killed_step["id"], 1)]["state"] == "started"
    assert lab.executions() == Counter({"uptime-kuma": 1})

    restarted = lab.start_agent(name)
    summary = lab.summary(run)

    assert run.returncode == 0, lab.output(run)
    assert summary["status"] == "succeeded"
    # The restarted agent took the dead attempt over: killed what was left of it.
    assert lab.alive(workers) == []
    assert lab.agent_ansible(name) == []
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "interrupted"), ("uptime-kuma", 2, "succeeded"),
        ("uptime-kuma-monitors", 1, "succeeded"),
    ]  # fmt: skip
    assert {s["agent"] for s in lab.records.steps(run_id) if s["status"] == "succeeded"} == {name}
    states = lab.records.run_states(run_id)
    assert states == [
        "received", "planning", "awaiting_approval", "approved", "running", "paused",
        "running", "succeeded",
    ]  # fmt: skip
    resumed = lab.records.moves("run", run_id)[-2]
    assert name in resumed["reason"]
    assert [s["playbook"] for s in summary["steps"]] == ["uptime-kuma", "uptime-kuma-monitors"]
    assert [s["attempt"] for s in summary["steps"]] == [2, 1]
    # The ledger took the dead attempt over as interrupted: what a status question now hears.
    entry = lab.ledger(name)[(killed_step["id"], 1)]
    assert entry["result"]["status"] == "interrupted"
    assert name in entry["result"]["failure"]["error"]
    assert lab.executions() == Counter({"uptime-kuma": 2, "uptime-kuma-monitors": 1})
    lab.assert_survived(run_id)
    assert restarted.poll() is None


def test_an_agent_killed_mid_step_and_restarted_before_it_is_missed_reports_the_attempt_interrupted(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    name = lab.add_agent()
    # Heartbeats every 30 s: the restarted agent announces itself long before the registry
    # would miss the killed one. Its new start time is what tells the registry it restarted.
    slow_beat = {"CHIFFON_HEARTBEAT_INTERVAL_S": "30"}
    agent = lab.start_agent(name, sleep_s=60, extra_env=slow_beat)
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", README_REQUEST)
    run_id = lab.run_of(run, since)
    killed_step = running_on_agent(lab, run_id, "uptime-kuma")
    workers = lab.sleeping_module(name)

    lab.kill(agent)
    restarted = lab.start_agent(name, extra_env=slow_beat)
    summary = lab.summary(run)

    assert run.returncode == 0, lab.output(run)
    assert summary["status"] == "succeeded"
    assert lab.alive(workers) == []
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "interrupted"), ("uptime-kuma", 2, "succeeded"),
        ("uptime-kuma-monitors", 1, "succeeded"),
    ]  # fmt: skip
    # Asked by the registry when the agent came back, the agent answered from its ledger: the
    # attempt its previous process ran was interrupted. Nobody waited for a missed heartbeat.
    [interrupted] = [s for s in lab.records.steps(run_id) if s["id"] == killed_step["id"]]
    assert f"the agent {name} stopped while it ran this attempt" in interrupted["reason"]
    reports = [r for r in status_reports(lab, run_id) if r["step_id"] == str(killed_step["id"])]
    assert [(r["state"], r["result"]["status"]) for r in reports] == [("finished", "interrupted")]
    assert lab.records.run_states(run_id) == [
        "received", "planning", "awaiting_approval", "approved", "running", "succeeded",
    ]  # fmt: skip
    assert lab.agent_row(name) is not None
    assert {s["agent"] for s in lab.records.steps(run_id)} == {name}
    assert lab.executions() == Counter({"uptime-kuma": 2, "uptime-kuma-monitors": 1})
    lab.assert_survived(run_id)
    assert restarted.poll() is None


def test_an_agent_cut_off_mid_step_stops_the_attempt_given_up_on_before_it_runs_the_next(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    name = lab.add_agent()
    proxy = TcpProxy.to(lab.amqp_url)
    try:
        # Each playbook sleeps 20 s: the first attempt still sleeps when the agent comes back
        # (cut, missed, given up on, reconnected take a few seconds).
        agent = lab.start_agent(name, connect=proxy.url(lab.amqp_url), sleep_s=20)
        since = dt.datetime.now(dt.UTC)
        run = lab.start_run("--yes", "--json", README_REQUEST)
        run_id = lab.run_of(run, since)
        given_up = running_on_agent(lab, run_id, "uptime-kuma")
        workers = lab.sleeping_module(name)

        proxy.cut()
        try:
            # Missed heartbeats: the attempt is interrupted, and the next one waits (paused)
            # for an agent. The cut-off agent runs the first one all the while.
            wait_until(
                lambda: lab.records.run(run_id)["status"] == "paused",
                lambda: f"the run to pause: {attempts(lab, run_id)}",
            )
            still_running = lab.alive(workers)
            assert lab.ledger(name)[(given_up["id"], 1)]["state"] == "started"
        finally:
            proxy.restore()
        summary = lab.summary(run)
    finally:
        proxy.close()

    assert still_running != []
    assert run.returncode == 0, lab.output(run)[-3000:]
    assert summary["status"] == "succeeded"
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "interrupted"), ("uptime-kuma", 2, "succeeded"),
        ("uptime-kuma-monitors", 1, "succeeded"),
    ]  # fmt: skip
    first, second = [s for s in lab.records.steps(run_id) if s["playbook"] == "uptime-kuma"]
    assert (first["agent"], second["agent"]) == (name, name)
    assert "lost its agent" in first["reason"]
    # Back, the agent found the run's step.cancel in its queue before the second attempt: it
    # stopped the first (its Ansible killed), then ran the second. The two never overlapped.
    result = lab.ledger(name)[(first["id"], 1)]["result"]
    assert result["status"] == "interrupted"
    assert result["failure"]["error"] == f"cancelled by the orchestrator: {first['reason']}"
    assert lab.alive(workers) == []
    times = ledger_times(lab, name)
    assert times[(first["id"], 1)][1] <= times[(second["id"], 2)][0]
    assert "result for no current step ignored" in lab.output(run)
    assert lab.executions() == Counter({"uptime-kuma": 2, "uptime-kuma-monitors": 1})
    lab.assert_survived(run_id)
    assert agent.poll() is None


@pytest.mark.parametrize("meanwhile", ["finished", "running"])
def test_an_orchestrator_killed_while_a_remote_step_runs_learns_its_fate_from_the_agent_on_resume(
    remote_lab: RemoteLab, meanwhile: str
) -> None:
    lab = remote_lab
    name = lab.add_agent()
    # finished: the step ends soon after the kill, before the resume starts. running: it
    # sleeps well past the resumed process's start-up, so the agent still runs it when asked.
    agent = lab.start_agent(name, sleep_s=8 if meanwhile == "finished" else 45)
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", README_REQUEST)
    run_id = lab.run_of(run, since)
    step = running_on_agent(lab, run_id, "uptime-kuma")
    key = (step["id"], step["attempt"])

    lab.kill(run)

    assert lab.records.run(run_id)["status"] == "running"
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "running"), ("uptime-kuma-monitors", 1, "pending"),
    ]  # fmt: skip
    if meanwhile == "finished":
        # The agent finishes the attempt on its own, its result addressed to a dead process.
        wait_until(
            lambda: lab.ledger(name)[key]["state"] == "finished",
            lambda: f"the agent to finish the attempt: {lab.ledger(name)}",
        )
        assert lab.ledger(name)[key]["result"]["status"] == "succeeded"
    else:
        assert lab.ledger(name)[key]["state"] == "started"

    resumed = lab.cli("run", "--resume", str(run_id), "--yes", "--json", timeout=300)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "succeeded"
    # No new attempt: the agent's answer settled the first one; each playbook ran once.
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "succeeded"), ("uptime-kuma-monitors", 1, "succeeded"),
    ]  # fmt: skip
    assert lab.records.chain("step", step["id"]) == ["pending", "dispatched", "running",
                                                     "succeeded"]  # fmt: skip
    assert lab.executions() == Counter({"uptime-kuma": 1, "uptime-kuma-monitors": 1})
    assert lab.records.run_states(run_id) == [
        "received", "planning", "awaiting_approval", "approved", "running", "interrupted",
        "running", "succeeded",
    ]  # fmt: skip
    # What the agent said when the resumed run asked after the attempt.
    reports = [r for r in status_reports(lab, run_id) if r["step_id"] == str(step["id"])]
    assert reports, "the resumed run asked the agent"
    expected = "finished" if meanwhile == "finished" else "running"
    assert reports[0]["state"] == expected, reports
    assert {s["agent"] for s in lab.records.steps(run_id)} == {name}
    assert len(lab.records.approvals(run_id)) == 1
    lab.assert_survived(run_id)
    assert agent.poll() is None
