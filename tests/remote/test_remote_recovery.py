"""Faults injected for real into a homelab spread over processes: a ``chiffon agent`` killed
with SIGKILL in the middle of a step, cut off from the broker mid-step long enough to be
given up on (and back while its step still runs), and the orchestrator (``chiffon run``)
killed with SIGKILL while a remote agent runs its step. Each runs once per executor
(``tests.remote.executors``): an Ansible agent, and a shell-check agent running probes —
the agent core's guarantees are the same for both.

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
from typing import Any

import pytest

from tests.recovery.lab import wait_until

from .executors import EXECUTORS, RemoteExecutor
from .lab import RemoteLab, TcpProxy

# Generous: the machine is shared, and these runs sleep on purpose in their playbooks.
pytestmark = [
    pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(600),
]  # fmt: skip


def attempts(lab: RemoteLab, run_id: uuid.UUID) -> list[tuple[str, int, str]]:
    return [(s["playbook"], s["attempt"], s["status"]) for s in lab.records.steps(run_id)]


@pytest.fixture(params=EXECUTORS, ids=lambda e: e.name)
def executor(request: pytest.FixtureRequest, remote_lab: RemoteLab) -> RemoteExecutor:
    found: RemoteExecutor = request.param
    found.prepare(remote_lab)
    return found


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
    remote_lab: RemoteLab, executor: RemoteExecutor
) -> None:
    lab, ex = remote_lab, executor
    name = lab.add_agent(ex.base)
    agent = ex.start_agent(lab, name)
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", ex.request)
    run_id = lab.run_of(run, since)
    killed_step = ex.running(lab, run_id)
    workers = ex.workers(lab, name, killed_step)

    lab.kill(agent)

    # The run hears that its agent is gone (missed heartbeats): the attempt is interrupted,
    # naming the agent, and the new attempt waits (paused) for an agent to take it.
    wait_until(
        lambda: lab.records.run(run_id)["status"] == "paused",
        lambda: f"the run to pause: {lab.records.run_states(run_id)}, {attempts(lab, run_id)}",
    )
    assert attempts(lab, run_id) == [
        (ex.held, 1, "interrupted"), (ex.held, 2, "pending"),
        *((later, 1, "pending") for later in ex.rest),
    ]  # fmt: skip
    [interrupted] = [s for s in lab.records.steps(run_id) if s["id"] == killed_step["id"]]
    assert name in interrupted["reason"]
    assert "lost its agent" in interrupted["reason"]
    # What the killed agent had started outlived it (its processes have sessions of their
    # own), and its ledger still says the attempt started: nothing has taken it over yet.
    assert lab.alive(workers) != []
    assert lab.ledger(name)[(killed_step["id"], 1)]["state"] == "started"
    assert lab.executions() == ex.executed(1, rest=0)

    restarted = ex.start_agent(lab, name)
    # The restarted agent took the dead attempt over as it started: killed what was left.
    wait_until(lambda: lab.alive(workers) == [], "the dead attempt's processes to be killed")
    lab.release()
    summary = lab.summary(run)

    assert run.returncode == 0, lab.output(run)
    assert summary["status"] == "succeeded"
    assert lab.agent_ansible(name) == []
    assert attempts(lab, run_id) == [
        (ex.held, 1, "interrupted"), (ex.held, 2, "succeeded"),
        *((later, 1, "succeeded") for later in ex.rest),
    ]  # fmt: skip
    assert {s["agent"] for s in lab.records.steps(run_id) if s["status"] == "succeeded"} == {name}
    states = lab.records.run_states(run_id)
    assert states == [
        "received", "planning", "awaiting_approval", "approved", "running", "paused",
        "running", "succeeded",
    ]  # fmt: skip
    resumed = lab.records.moves("run", run_id)[-2]
    assert name in resumed["reason"]
    assert [s["playbook"] for s in summary["steps"]] == [ex.held, *ex.rest]
    assert [s["attempt"] for s in summary["steps"]] == [2, *(1 for _ in ex.rest)]
    # The ledger took the dead attempt over as interrupted: what a status question now hears.
    entry = lab.ledger(name)[(killed_step["id"], 1)]
    assert entry["result"]["status"] == "interrupted"
    assert (
        f"the agent {name} stopped while it ran this attempt"
        in (entry["result"]["failure"]["error"])
    )
    assert lab.executions() == ex.executed(2)
    lab.assert_survived(run_id)
    assert restarted.poll() is None


def test_an_agent_killed_mid_step_and_restarted_before_it_is_missed_reports_the_attempt_interrupted(
    remote_lab: RemoteLab, executor: RemoteExecutor
) -> None:
    lab, ex = remote_lab, executor
    name = lab.add_agent(ex.base)
    # Heartbeats every 30 s: the restarted agent announces itself long before the registry
    # would miss the killed one. Its new start time is what tells the registry it restarted.
    slow_beat = {"CHIFFON_HEARTBEAT_INTERVAL_S": "30"}
    agent = ex.start_agent(lab, name, extra_env=slow_beat)
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", ex.request)
    run_id = lab.run_of(run, since)
    killed_step = ex.running(lab, run_id)
    workers = ex.workers(lab, name, killed_step)

    lab.kill(agent)
    restarted = ex.start_agent(lab, name, extra_env=slow_beat)
    wait_until(lambda: lab.alive(workers) == [], "the dead attempt's processes to be killed")
    lab.release()
    summary = lab.summary(run)

    assert run.returncode == 0, lab.output(run)
    assert summary["status"] == "succeeded"
    assert attempts(lab, run_id) == [
        (ex.held, 1, "interrupted"), (ex.held, 2, "succeeded"),
        *((later, 1, "succeeded") for later in ex.rest),
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
    assert lab.executions() == ex.executed(2)
    lab.assert_survived(run_id)
    assert restarted.poll() is None


def test_an_agent_cut_off_mid_step_stops_the_attempt_given_up_on_before_it_runs_the_next(
    remote_lab: RemoteLab, executor: RemoteExecutor
) -> None:
    lab, ex = remote_lab, executor
    name = lab.add_agent(ex.base)
    proxy = TcpProxy.to(lab.amqp_url)
    try:
        agent = ex.start_agent(lab, name, connect=proxy.url(lab.amqp_url))
        since = dt.datetime.now(dt.UTC)
        run = lab.start_run("--yes", "--json", ex.request)
        run_id = lab.run_of(run, since)
        given_up = ex.running(lab, run_id)
        workers = ex.workers(lab, name, given_up)

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
        # Back, the agent finds the run's step.cancel in its queue ahead of the second
        # attempt: it stops the first (its processes killed), then runs the second, which
        # waits like the first.
        wait_until(
            lambda: any(s["attempt"] == 2 and s["status"] == "running"
                        for s in lab.records.steps(run_id)),
            lambda: f"the second attempt to run: {attempts(lab, run_id)}",
        )  # fmt: skip
        lab.release()
        summary = lab.summary(run)
    finally:
        proxy.close()

    assert still_running != [], "the cut-off agent's step stopped on its own"
    assert run.returncode == 0, lab.output(run)[-3000:]
    assert summary["status"] == "succeeded"
    assert attempts(lab, run_id) == [
        (ex.held, 1, "interrupted"), (ex.held, 2, "succeeded"),
        *((later, 1, "succeeded") for later in ex.rest),
    ]  # fmt: skip
    first, second = [s for s in lab.records.steps(run_id) if s["playbook"] == ex.held]
    assert (first["agent"], second["agent"]) == (name, name)
    assert "lost its agent" in first["reason"]
    # The two attempts never overlapped: the first was stopped (cancelled by the run) before
    # the second started.
    result = lab.ledger(name)[(first["id"], 1)]["result"]
    assert result["status"] == "interrupted"
    assert result["failure"]["error"] == f"cancelled by the orchestrator: {first['reason']}"
    assert lab.alive(workers) == []
    times = ledger_times(lab, name)
    assert times[(first["id"], 1)][1] <= times[(second["id"], 2)][0]
    assert "result for no current step ignored" in lab.output(run)
    assert lab.executions() == ex.executed(2)
    lab.assert_survived(run_id)
    assert agent.poll() is None


@pytest.mark.parametrize("meanwhile", ["finished", "running"])
def test_an_orchestrator_killed_while_a_remote_step_runs_learns_its_fate_from_the_agent_on_resume(
    remote_lab: RemoteLab, executor: RemoteExecutor, meanwhile: str
) -> None:
    lab, ex = remote_lab, executor
    name = lab.add_agent(ex.base)
    agent = ex.start_agent(lab, name)
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", ex.request)
    run_id = lab.run_of(run, since)
    step = ex.running(lab, run_id)
    key = (step["id"], step["attempt"])

    lab.kill(run)

    assert lab.records.run(run_id)["status"] == "running"
    assert attempts(lab, run_id) == [
        (ex.held, 1, "running"), *((later, 1, "pending") for later in ex.rest),
    ]  # fmt: skip
    if meanwhile == "finished":
        # Let go, the agent finishes the attempt on its own, its result addressed to a dead
        # process; the resumed run asks and hears it.
        lab.release()
        wait_until(
            lambda: lab.ledger(name)[key]["state"] == "finished",
            lambda: f"the agent to finish the attempt: {lab.ledger(name)}",
        )
        assert lab.ledger(name)[key]["result"]["status"] == "succeeded"
    else:
        assert lab.ledger(name)[key]["state"] == "started"

    resumed = lab.start_run("--resume", str(run_id), "--yes", "--json")
    if meanwhile == "running":
        # The resumed run asks the agent, which still runs the attempt and will tell it the
        # result once it is let go.
        wait_until(
            lambda: any(r["step_id"] == str(step["id"]) for r in status_reports(lab, run_id)),
            lambda: f"the resumed run to ask after the attempt: {lab.output(resumed)[-2000:]}",
        )
        lab.release()
    summary = lab.summary(resumed)

    assert resumed.returncode == 0, lab.output(resumed)[-3000:]
    assert summary["status"] == "succeeded"
    # No new attempt: the agent's answer settled the first one; each step ran once.
    assert attempts(lab, run_id) == [
        (ex.held, 1, "succeeded"), *((later, 1, "succeeded") for later in ex.rest),
    ]  # fmt: skip
    assert lab.records.chain("step", step["id"]) == [
        "pending", "dispatched", "running", "succeeded",
    ]  # fmt: skip
    assert lab.executions() == ex.executed(1)
    assert lab.records.run_states(run_id) == [
        "received", "planning", "awaiting_approval", "approved", "running", "interrupted",
        "running", "succeeded",
    ]  # fmt: skip
    # What the agent said when the resumed run asked after the attempt.
    reports = [r for r in status_reports(lab, run_id) if r["step_id"] == str(step["id"])]
    assert reports, "the resumed run asked the agent"
    assert reports[0]["state"] == meanwhile, reports
    assert {s["agent"] for s in lab.records.steps(run_id)} == {name}
    assert len(lab.records.approvals(run_id)) == 1
    lab.assert_survived(run_id)
    assert agent.poll() is None
