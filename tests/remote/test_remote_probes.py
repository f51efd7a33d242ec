"""The remote fault tests, for the shell-check executor over RabbitMQ: a ``chiffon agent --kind
shell-check --host nas`` on the NAS takes the probe steps planned for it (routed by its
declared capabilities, never to an Ansible agent) and keeps the core's guarantees — killed
mid-probe, the attempt is interrupted, its restart kills the probe worker it left behind and
runs a new attempt; cut off from the broker mid-probe, it stops the attempt the run gave up on
before it runs the next; with the orchestrator killed, the resumed run hears the attempt still
runs and gets its result — and the ledger agrees with the database."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from chiffon.agents.infra.processes import attempt_marker, processes_naming
from tests.recovery.lab import wait_until

from .lab import RemoteLab, TcpProxy
from .test_remote_recovery import ledger_times, status_reports

pytestmark = [
    pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(600),
]  # fmt: skip


def attempts(lab: RemoteLab, run_id: uuid.UUID) -> list[tuple[str, int, str, str | None]]:
    return [
        (s["playbook"], s["attempt"], s["status"], s["agent"]) for s in lab.records.steps(run_id)
    ]


def test_a_probe_step_runs_on_the_remote_shell_check_agent_of_its_host(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    space, _ = lab.probe_entries()
    infra = lab.add_agent("infra")
    nas = lab.add_agent("nas")
    lab.start_agent(infra)
    lab.start_agent(nas, kind="shell-check", hosts=("nas",))

    done = lab.cli("run", "--yes", "--json", "is there free disk space on the nas", timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    run_id = uuid.UUID(summary["run_id"])
    assert summary["status"] == "succeeded", summary
    assert attempts(lab, run_id) == [(space, 1, "succeeded", nas)]
    [step] = lab.records.steps(run_id)
    entry = lab.ledger(nas)[(step["id"], 1)]
    assert entry["state"] == "finished"
    assert entry["result"]["stats"]["nas"]["ok"] == 1
    row = lab.agent_row(nas)
    assert row is not None
    assert row["kind"] == "shell-check"
    assert {"shell-check", "host:nas"} <= set(row["capabilities"])
    assert lab.ledger(infra) == {}, "a probe step went to the Ansible agent"
    lab.assert_survived(run_id)


def test_a_shell_check_agent_killed_mid_probe_is_taken_over_and_the_step_runs_again(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    _, arrival = lab.probe_entries()
    nas = lab.add_agent("nas")
    agent = lab.start_agent(nas, kind="shell-check", hosts=("nas",))
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", "wait for the release file on the nas")
    run_id = lab.run_of(run, since)
    first = wait_until(
        lambda: next((s for s in lab.records.steps(run_id) if s["status"] == "running"), None),
        lambda: f"the probe step to run: {attempts(lab, run_id)}",
    )
    # The attempt's worker (not the dry run's, which names the agent's work directory too).
    workers = wait_until(
        lambda: processes_naming(attempt_marker(first["id"], 1)) or None,
        lambda: f"{nas}'s probe worker to run",
    )

    lab.kill(agent)

    wait_until(
        lambda: lab.records.run(run_id)["status"] == "paused",
        lambda: f"the run to pause: {lab.records.run_states(run_id)}, {attempts(lab, run_id)}",
    )
    [first] = [s for s in lab.records.steps(run_id) if s["attempt"] == 1]
    assert first["status"] == "interrupted"
    assert "lost its agent" in first["reason"]
    assert lab.ledger(nas)[(first["id"], 1)]["state"] == "started"

    lab.start_agent(nas, kind="shell-check", hosts=("nas",))
    # The restarted agent took the dead attempt over (killing its worker) before it ran the
    # new attempt, which waits for the release file like the first.
    wait_until(lambda: lab.alive(workers) == [], "the dead attempt's worker to be killed")
    wait_until(
        lambda: any(s["attempt"] == 2 and s["status"] == "running"
                    for s in lab.records.steps(run_id)),
        lambda: f"the second attempt to run: {attempts(lab, run_id)}",
    )  # fmt: skip
    lab.release_file.write_text("")
    summary = lab.summary(run)

    assert run.returncode == 0, lab.output(run)
    assert summary["status"] == "succeeded"
    assert attempts(lab, run_id) == [
        (arrival, 1, "interrupted", nas), (arrival, 2, "succeeded", nas),
    ]  # fmt: skip
    taken_over = lab.ledger(nas)[(first["id"], 1)]
    assert taken_over["result"]["status"] == "interrupted"
    assert (
        f"the agent {nas} stopped while it ran this attempt"
        in (taken_over["result"]["failure"]["error"])
    )
    assert lab.agent_ansible(nas) == []
    lab.assert_survived(run_id)


def test_a_shell_check_agent_cut_off_mid_probe_stops_the_attempt_given_up_on_before_the_next(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    _, arrival = lab.probe_entries()
    nas = lab.add_agent("nas")
    proxy = TcpProxy.to(lab.amqp_url)
    try:
        agent = lab.start_agent(
            nas, kind="shell-check", hosts=("nas",), connect=proxy.url(lab.amqp_url)
        )
        since = dt.datetime.now(dt.UTC)
        run = lab.start_run("--yes", "--json", "wait for the release file on the nas")
        run_id = lab.run_of(run, since)
        first = wait_until(
            lambda: next((s for s in lab.records.steps(run_id) if s["status"] == "running"), None),
            lambda: f"the probe step to run: {attempts(lab, run_id)}",
        )
        workers = wait_until(
            lambda: processes_naming(attempt_marker(first["id"], 1)) or None,
            lambda: f"{nas}'s probe worker to run",
        )
        proxy.cut()
        try:
            wait_until(
                lambda: lab.records.run(run_id)["status"] == "paused",
                lambda: f"the run to pause: {attempts(lab, run_id)}",
            )
            still_running = lab.alive(workers)
            assert lab.ledger(nas)[(first["id"], 1)]["state"] == "started"
        finally:
            proxy.restore()
        # Back, the agent finds the run's step.cancel ahead of the second attempt: it stops
        # the first (its worker killed), then runs the second, which waits like the first.
        second = wait_until(
            lambda: next((s for s in lab.records.steps(run_id)
                          if s["attempt"] == 2 and s["status"] == "running"), None),
            lambda: f"the second attempt to run: {attempts(lab, run_id)}",
        )  # fmt: skip
        lab.release_file.write_text("")
        summary = lab.summary(run)
    finally:
        proxy.close()

    assert still_running != [], "the cut-off agent's probe stopped on its own"
    assert run.returncode == 0, lab.output(run)[-3000:]
    assert summary["status"] == "succeeded"
    assert attempts(lab, run_id) == [
        (arrival, 1, "interrupted", nas), (arrival, 2, "succeeded", nas),
    ]  # fmt: skip
    [given_up] = [s for s in lab.records.steps(run_id) if s["attempt"] == 1]
    result = lab.ledger(nas)[(first["id"], 1)]["result"]
    assert result["status"] == "interrupted"
    assert result["failure"]["error"] == f"cancelled by the orchestrator: {given_up['reason']}"
    assert lab.alive(workers) == []
    times = ledger_times(lab, nas)
    assert times[(first["id"], 1)][1] <= times[(second["id"], 2)][0]
    lab.assert_survived(run_id)
    assert agent.poll() is None


def test_an_orchestrator_killed_while_a_remote_probe_waits_hears_it_still_runs_and_its_result(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    _, arrival = lab.probe_entries()
    nas = lab.add_agent("nas")
    agent = lab.start_agent(nas, kind="shell-check", hosts=("nas",))
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", "wait for the release file on the nas")
    run_id = lab.run_of(run, since)
    step = wait_until(
        lambda: next((s for s in lab.records.steps(run_id) if s["status"] == "running"), None),
        lambda: f"the probe step to run: {attempts(lab, run_id)}",
    )

    lab.kill(run)
    assert lab.ledger(nas)[(step["id"], 1)]["state"] == "started"
    resumed = lab.start_run("--resume", str(run_id), "--yes", "--json")
    # The resumed run asks the agent, which still runs the attempt and now tells it the result.
    wait_until(
        lambda: any(r["step_id"] == str(step["id"]) for r in status_reports(lab, run_id)),
        lambda: f"the resumed run to ask after the attempt: {lab.output(resumed)[-2000:]}",
    )
    lab.release_file.write_text("")
    summary = lab.summary(resumed)

    assert resumed.returncode == 0, lab.output(resumed)[-3000:]
    assert summary["status"] == "succeeded"
    assert attempts(lab, run_id) == [(arrival, 1, "succeeded", nas)]
    reports = [r for r in status_reports(lab, run_id) if r["step_id"] == str(step["id"])]
    assert reports[0]["state"] == "running", reports
    assert lab.records.chain("step", step["id"]) == [
        "pending", "dispatched", "running", "succeeded",
    ]  # fmt: skip
    lab.assert_survived(run_id)
    assert agent.poll() is None
