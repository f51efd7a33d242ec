"""The happy paths of a homelab spread over processes: ``chiffon agent``, ``chiffon serve`` and
``chiffon run`` as real processes joined by the machine's RabbitMQ, on the session's
PostgreSQL, running the README's request with real Ansible, and a probe step on a
``shell-check`` agent (routed by its declared capabilities, never to an Ansible agent).

Each test checks what the processes left: the runs and their attempts in the database, the
agents table, the agents' ledgers, the files in the target root and how often each playbook
really ran (``executions.log``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections import Counter
from typing import Any

import pytest
import yaml

from tests.recovery.lab import HOMELAB, README_REQUEST, wait_until

from .lab import HEARTBEAT_S, RemoteLab, json_events

# Generous: the machine is shared, and a README run spends ~30 s in Ansible.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]

KUMA = ["uptime-kuma", "uptime-kuma-monitors"]
RUN_STATES = ["received", "planning", "awaiting_approval", "approved", "running", "succeeded"]
STEP_STATES = ["pending", "dispatched", "running", "succeeded"]


def run_kuma(lab: RemoteLab, *, agents: set[str]) -> dict[str, Any]:
    """``chiffon run --yes --json`` the README request to its end; checks the README's outcome
    (on one of ``agents``) and returns the summary with the run's live output under
    ``"output"``."""
    done = lab.cli("run", "--yes", "--json", README_REQUEST, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    assert summary["status"] == "succeeded"
    assert summary["reason"] is None
    run_id = uuid.UUID(summary["run_id"])
    assert [(s["playbook"], s["attempt"], s["status"]) for s in summary["steps"]] == [
        ("uptime-kuma", 1, "succeeded"),
        ("uptime-kuma-monitors", 1, "succeeded"),
    ], [(s["playbook"], s["attempt"], s["status"], s["reason"]) for s in lab.records.steps(run_id)]
    for step in summary["steps"]:
        # The recaps came back over the broker with the results.
        assert step["stats"]["changed"] > 0
        assert step["stats"]["failed"] == step["stats"]["unreachable"] == 0
    assert lab.records.run_states(run_id) == RUN_STATES
    steps = lab.records.steps(run_id)
    assert {s["agent"] for s in steps} <= agents
    for step in steps:
        assert lab.records.chain("step", step["id"]) == STEP_STATES
    lab.assert_survived(run_id)
    summary["output"] = done.stderr
    return summary


def assert_kuma_deployed(lab: RemoteLab) -> None:
    kuma = lab.target / "core" / "srv" / "uptime-kuma"
    compose = yaml.safe_load((kuma / "compose.yaml").read_text())
    assert compose["services"]["uptime-kuma"]["image"] == "louislam/uptime-kuma:1.23.16"
    portals = yaml.safe_load((HOMELAB / "files" / "proxy-hosts.yml").read_text())["portals"]
    monitors = json.loads((kuma / "data" / "chiffon-monitors.json").read_text())["monitorList"]
    assert [m["name"] for m in monitors] == [p["name"] for p in portals]


def assert_online(lab: RemoteLab, name: str, kind: str = "infra") -> dict[str, Any]:
    """The agent is online in the agents table, with what it announced; its row."""
    row = lab.agent_when(name, "online")
    assert row["kind"] == kind
    assert "ansible" in row["capabilities"]
    assert row["heartbeat_interval_s"] == HEARTBEAT_S
    assert f"agent.{name}" in row["address"]
    resources = row["resources"]
    assert resources["cpu_count"] >= 1
    assert 0 < resources["memory_available_mb"] <= resources["memory_total_mb"]
    # No GPU on this machine: none reported, and the agent says why instead of failing.
    assert resources["gpus"] == []
    assert resources["gpu_note"]
    return row


def test_the_readme_request_runs_on_an_infra_agent_that_is_a_process_of_its_own(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    name = lab.add_agent()
    agent = lab.start_agent(name)

    summary = run_kuma(lab, agents={name})

    run_id = uuid.UUID(summary["run_id"])
    assert {s["agent"] for s in lab.records.steps(run_id)} == {name}
    assert lab.executions() == Counter({"uptime-kuma": 1, "uptime-kuma-monitors": 1})
    assert_kuma_deployed(lab)
    # The playbooks' live output crossed the broker, task by task, as it happened.
    for task in ("Count this execution", "Write Uptime Kuma's compose file",
                 "Write one HTTP monitor per portal, in Uptime Kuma's backup format"):  # fmt: skip
        assert f"core | {task}" in summary["output"]
    assert f"step 2/2 uptime-kuma-monitors on core by agent {name}" in summary["output"]
    # The agent process is still up, its ledger holding both attempts. The orchestrator that
    # heard it has stopped: the agent is not called offline for that, but nobody records its
    # heartbeats any more, and two intervals later `chiffon agents` shows it stale.
    assert agent.poll() is None
    assert [e["result"]["status"] for e in lab.ledger(name).values()] == ["succeeded"] * 2
    # The run's own queue (named after its process) went with it.
    logged = json_events(summary["output"])
    [connected] = [e for e in logged if e.get("event") == "bridge connected"]
    assert str(connected["queue"]).startswith("chiffon.orchestrator.")
    assert not lab.queue_exists(str(connected["queue"]))
    row = lab.agent_row(name)
    assert row is not None
    assert row["status"] == "online"
    wait_until(lambda: lab.agents()[name]["stale"], "chiffon agents to show the agent stale")
    assert lab.agents()[name]["status"] == "online"
    print(f"remote README run: {summary['seconds']:.1f} s (chiffon run's own figure)")


@pytest.mark.parametrize("first", ["serve", "agent"])
def test_serve_and_an_agent_find_each_other_whichever_starts_first_and_the_request_runs_on_it(
    remote_lab: RemoteLab, first: str
) -> None:
    lab = remote_lab
    name = lab.add_agent()
    before = dt.datetime.now(dt.UTC)
    if first == "serve":
        serve = lab.start_serve()
        agent = lab.start_agent(name)
    else:
        agent = lab.start_agent(name)
        # Nothing has heard it yet: no orchestrator of this lab's was listening.
        assert lab.agent_row(name) is None
        serve = lab.start_serve()

    row = assert_online(lab, name)
    assert row["announced_at"] > before
    listed = lab.agents()[name]
    assert (listed["status"], listed["stale"], listed["kind"]) == ("online", False, "infra")
    assert "ansible" in listed["capabilities"]
    assert listed["resources"]["cpu_count"] == row["resources"]["cpu_count"]
    assert listed["resources"]["gpu_note"]
    # The serve process heard it (an agent that started first answered its discovery).
    wait_until(lambda: '"agent online"' in lab.output(serve) and name in lab.output(serve),
               lambda: f"serve to log {name} online: {lab.output(serve)}")  # fmt: skip
    heard = lab.agent_row(name)
    assert heard is not None
    wait_until(
        lambda: (
            (r := lab.agent_row(name)) is not None
            and r["last_heartbeat_at"] > heard["last_heartbeat_at"]
        ),
        "a heartbeat after the announcement",
    )

    run_kuma(lab, agents={name})

    assert lab.executions() == Counter({"uptime-kuma": 1, "uptime-kuma-monitors": 1})
    assert_kuma_deployed(lab)
    assert serve.poll() is None
    assert agent.poll() is None
    # The run's orchestrator has stopped; serve still hears the agent's heartbeats.
    wait_until(lambda: lab.agent_status(name) == "online", "serve to hear a heartbeat")


def test_an_agent_stopped_with_sigterm_is_offline_at_once_by_its_goodbye(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    name = lab.add_agent()
    lab.start_serve()
    agent = lab.start_agent(name)
    assert_online(lab, name)

    stopped = time.monotonic()
    lab.terminate(agent)

    assert agent.returncode == 0, lab.output(agent)
    row = lab.agent_when(name, "offline")
    seen = time.monotonic() - stopped
    assert "said goodbye" in row["offline_reason"]
    assert "missed" not in row["offline_reason"]
    assert row["offline_at"] is not None
    listed = lab.agents()[name]
    assert (listed["status"], listed["offline_reason"]) == ("offline", row["offline_reason"])
    print(f"goodbye: offline {seen:.2f} s after SIGTERM (agent exit included)")


def test_an_agent_killed_with_sigkill_is_offline_after_missed_heartbeats(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    name = lab.add_agent()
    lab.start_serve()
    agent = lab.start_agent(name)
    assert_online(lab, name)
    # Heartbeats flow: the last one is recent when the agent dies.
    first = lab.agent_row(name)
    assert first is not None
    wait_until(
        lambda: (
            (r := lab.agent_row(name)) is not None
            and r["last_heartbeat_at"] > first["last_heartbeat_at"]
        ),
        "a heartbeat",
    )

    killed_at = dt.datetime.now(dt.UTC)
    lab.kill(agent)

    row = lab.agent_when(name, "offline")
    assert "missed 2 heartbeats" in row["offline_reason"]
    assert "goodbye" not in row["offline_reason"]
    latency = (row["offline_at"] - killed_at).total_seconds()
    silent = (row["offline_at"] - row["last_heartbeat_at"]).total_seconds()
    # A measurement, not a test of it (timings live in benchmarks).
    print(
        f"offline detection: {latency:.2f} s after SIGKILL, {silent:.2f} s after the last "
        f"heartbeat; 2 x interval = {2 * HEARTBEAT_S:.2f} s; reason: {row['offline_reason']}"
    )


def test_two_orchestrators_on_one_broker_each_get_their_own_replies(
    remote_lab: RemoteLab,
) -> None:
    lab = remote_lab
    names = {lab.add_agent("infra-a"), lab.add_agent("infra-b")}
    for name in sorted(names):
        # Slow steps, so that the two runs are out on the agents at the same time.
        lab.start_agent(name, sleep_s=8)
    since = dt.datetime.now(dt.UTC)
    runs = [lab.start_run("--yes", "--json", request)
            for request in (README_REQUEST, "Deploy Grafana")]  # fmt: skip
    run_ids = [lab.run_of(process, since) for process in runs]

    def both_out() -> bool:
        return all(
            any(s["status"] in ("dispatched", "running") for s in lab.records.steps(r))
            for r in run_ids
        )

    wait_until(both_out, "both runs to have a step out on an agent at the same time")
    summaries = [lab.summary(process) for process in runs]

    assert [p.returncode for p in runs] == [0, 0], [lab.output(p) for p in runs]
    assert [s["status"] for s in summaries] == ["succeeded", "succeeded"]
    assert [uuid.UUID(s["run_id"]) for s in summaries] == run_ids
    assert [[(s["playbook"], s["attempt"]) for s in summary["steps"]] for summary in summaries] == [
        [("uptime-kuma", 1), ("uptime-kuma-monitors", 1)], [("grafana", 1)],
    ]  # fmt: skip
    for run_id in run_ids:
        assert lab.records.run_states(run_id) == RUN_STATES
        assert {s["agent"] for s in lab.records.steps(run_id)} <= names
    lab.assert_survived(*run_ids)
    assert lab.executions() == Counter({"uptime-kuma": 1, "uptime-kuma-monitors": 1, "grafana": 1})
    # Each orchestrator process had its own queue, and each run's results went to its own.
    queues = {
        json.loads(line)["queue"]
        for process in runs
        for line in lab.output(process).splitlines()
        if '"bridge connected"' in line
    }
    assert len(queues) == 2, queues
    used = {s["agent"] for r in run_ids for s in lab.records.steps(r)}
    print(f"two orchestrators: agents used {sorted(used)}; "
          f"seconds {[s['seconds'] for s in summaries]}")  # fmt: skip


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
    steps = lab.records.steps(run_id)
    assert [(s["playbook"], s["attempt"], s["status"], s["agent"]) for s in steps] == [
        (space, 1, "succeeded", nas)
    ]
    entry = lab.ledger(nas)[(steps[0]["id"], 1)]
    assert entry["state"] == "finished"
    assert entry["result"]["stats"]["nas"]["ok"] == 1
    row = lab.agent_row(nas)
    assert row is not None
    assert row["kind"] == "shell-check"
    assert {"shell-check", "host:nas"} <= set(row["capabilities"])
    assert lab.ledger(infra) == {}, "a probe step went to the Ansible agent"
    lab.assert_survived(run_id)
