"""Faults of the broker itself, injected for real into a homelab spread over processes: a
RabbitMQ node stopped and started (``rabbitmqctl stop_app`` / ``start_app``), its VM killed
with SIGKILL and booted again, and an agent cut off from it at the socket (a TCP proxy that
drops every connection and refuses new ones) and reconnected — each while the README
request's first step runs on a ``chiffon agent`` process.

The node stopped and killed is the session's own (``rabbitmq_node``: its own ports, name and
data directory), never the machine's broker: that one answers for someone else too. The
cut-off tests need no such node — a proxy of their own is cut, not the broker.

Whether the orchestrator gives up on the agent is decided by the heartbeat interval against
the outage, never by luck: an interval far longer than the outage (offline after two missed)
keeps the attempt, and the step's result, published during the outage, arrives once both
robust connections are back; with a one-second interval the test waits until the registry
*has* marked the agent offline before it ends the outage, so the attempt is interrupted and
a new attempt succeeds, while the old one's late result changes nothing.

Each test checks what survived: every attempt in exactly one terminal state through an
unbroken chain of transitions, every dispatched attempt finished in its agent's ledger,
nothing executed more often than it has attempts that reached an agent, no message of the
agent's refused, and the run's outcome. Reconnection times and offline-detection latencies
are printed as figures (``pytest -s``), never asserted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.rabbitmq_node import RabbitNode
from tests.recovery.lab import README_REQUEST, wait_until

from .lab import RemoteLab, TcpProxy, json_events

pytestmark = [
    pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(600),
]  # fmt: skip

KUMA = ("uptime-kuma", "uptime-kuma-monitors")
SLEEP_S = 5
"""How long each instrumented playbook waits: the outage happens inside this wait."""
LONG_HEARTBEAT_S = 30.0
"""Offline after 60 s of silence: far beyond any outage these tests make (10-20 s)."""
SHORT_HEARTBEAT_S = 1.0
"""Offline after 2 s of silence: shorter than any outage these tests make."""


@pytest.fixture
def broker(rabbitmq_node: RabbitNode) -> Iterator[RabbitNode]:
    """The session's own RabbitMQ node, which the test may stop and kill; running again
    afterwards, always, for the next test."""
    try:
        yield rabbitmq_node
    finally:
        rabbitmq_node.ensure_running()


@pytest.fixture
def own_lab(tmp_path: Path, own_database: str, broker: RabbitNode) -> Iterator[RemoteLab]:
    """A homelab of the test's own on the broker it may stop (and a database of its own)."""
    lab = RemoteLab(tmp_path, own_database, broker.amqp_url)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def proxy(remote_lab: RemoteLab) -> Iterator[TcpProxy]:
    proxy = TcpProxy.to(remote_lab.amqp_url)
    try:
        yield proxy
    finally:
        proxy.close()


# -- reading what the processes did --------------------------------------------------------


def events(text: str, event: str, **fields: Any) -> list[dict[str, Any]]:
    """The JSON log lines of ``text`` saying ``event`` (with ``fields``)."""
    return [
        item for item in json_events(text)
        if item.get("event") == event and all(item.get(k) == v for k, v in fields.items())
    ]  # fmt: skip


def at(event: dict[str, Any]) -> float:
    """When a log line was written (wall clock, seconds)."""
    return dt.datetime.fromisoformat(event["timestamp"]).timestamp()


def reconnected(lab: RemoteLab, process: subprocess.Popen[bytes], after: float) -> float:
    """Wait until ``process`` logs that its bridge reconnected after ``after``; when it did."""

    def seen() -> float | None:
        times = [at(e) for e in events(lab.output(process), "bridge reconnected")]
        return next((t for t in times if t >= after), None)

    return wait_until(seen, lambda: f"{process.args!r} to reconnect: {lab.output(process)[-3000:]}")


def running_on_agent(lab: RemoteLab, run_id: uuid.UUID, playbook: str) -> dict[str, Any]:
    """Wait until ``playbook`` runs on its agent (its execution counted); its step row."""

    def running() -> dict[str, Any] | None:
        if playbook not in lab.executions():
            return None
        steps = lab.records.steps(run_id)
        return next((s for s in steps if s["playbook"] == playbook and s["status"] == "running"),
                    None)  # fmt: skip

    return wait_until(running, lambda: f"{playbook} to run: {lab.records.steps(run_id)}")


def finished_on_agent(lab: RemoteLab, name: str, step: dict[str, Any]) -> dict[str, Any]:
    """Wait until the agent's ledger holds the attempt's result; the result."""
    key = (step["id"], step["attempt"])

    def finished() -> dict[str, Any] | None:
        entry = lab.ledger(name).get(key)
        return entry["result"] if entry is not None and entry["state"] == "finished" else None

    return wait_until(finished, lambda: f"{name} to finish attempt {key}: {lab.ledger(name)}")


def attempts(lab: RemoteLab, run_id: uuid.UUID) -> list[tuple[str, int, str]]:
    return [(s["playbook"], s["attempt"], s["status"]) for s in lab.records.steps(run_id)]


# -- what survived -------------------------------------------------------------------------


def assert_what_survived(lab: RemoteLab, run_id: uuid.UUID) -> dict[tuple[Any, int], str]:
    """Every attempt through an unbroken chain to one terminal state; every attempt that
    reached an agent finished in its ledger, with the state the database holds — except one
    the orchestrator interrupted after losing the agent, which the agent may have finished
    all the same; no playbook executed more often than it has attempts on agents. Returns
    those interrupted attempts' states on their agents."""
    lab.records.assert_attempts_consistent(run_id)
    reached: Counter[str] = Counter()
    gave_up: dict[tuple[Any, int], str] = {}
    for step in lab.records.steps(run_id):
        if step["agent"] is None:
            assert step["status"] in ("pending", "skipped"), step
            continue
        key = (step["id"], step["attempt"])
        entry = lab.ledger(step["agent"]).get(key)
        label = f"{step['playbook']} attempt {step['attempt']} on {step['agent']}: {entry}"
        assert entry is not None, label
        assert entry["state"] == "finished", label
        reached[step["playbook"]] += 1
        if step["status"] == "interrupted":
            gave_up[key] = entry["result"]["status"]
        else:
            assert entry["result"]["status"] == step["status"], label
    executed = lab.executions()
    assert all(executed[p] <= reached[p] for p in executed), (executed, reached)
    return gave_up


def assert_nothing_refused(
    lab: RemoteLab, name: str, run: subprocess.Popen[bytes], agent: subprocess.Popen[bytes]
) -> None:
    """Neither side dead-lettered a message of this lab's (a retried publish is a quiet
    duplicate, not a replay), and the agent never gave up telling a result."""
    refused = [e for e in events(lab.output(run), "message dead-lettered")
               if name in str(e.get("sender"))]  # fmt: skip
    assert refused == []
    assert events(lab.output(agent), "message dead-lettered") == []
    assert events(lab.output(agent), "step result not delivered; kept for a status question") == []


def assert_stayed_online(lab: RemoteLab, name: str, run: subprocess.Popen[bytes]) -> None:
    row = lab.agent_row(name)
    assert row is not None
    assert row["status"] == "online", row
    assert events(lab.output(run), "agent offline", agent=name) == []


def assert_one_attempt_each(lab: RemoteLab, run_id: uuid.UUID, summary: dict[str, Any]) -> None:
    assert summary["status"] == "succeeded", summary
    assert attempts(lab, run_id) == [(p, 1, "succeeded") for p in KUMA]
    assert assert_what_survived(lab, run_id) == {}
    assert lab.executions() == Counter(KUMA)


def assert_retried_after_losing_the_agent(
    lab: RemoteLab, run_id: uuid.UUID, summary: dict[str, Any], lost: dict[str, Any],
    run: subprocess.Popen[bytes],
) -> None:  # fmt: skip
    """The first attempt interrupted (the agent lost), the run paused without an agent and
    resumed; the second attempt succeeded; the first's late result was ignored."""
    assert summary["status"] == "succeeded", summary
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "interrupted"), ("uptime-kuma", 2, "succeeded"),
        ("uptime-kuma-monitors", 1, "succeeded"),
    ]  # fmt: skip
    first = lab.records.steps(run_id)[0]
    assert "lost its agent" in first["reason"]
    assert "missed 2 heartbeats" in first["reason"]
    assert "paused" in lab.records.run_states(run_id)
    # The agent finished the attempt it was cut off in; its result came late, and was ignored.
    assert assert_what_survived(lab, run_id) == {(lost["id"], 1): "succeeded"}
    ignored = events(lab.output(run), "result for no current step ignored", step_id=str(lost["id"]))
    assert ignored, lab.output(run)[-3000:]
    assert lab.executions() == Counter({"uptime-kuma": 2, "uptime-kuma-monitors": 1})


def offline_latency(
    lab: RemoteLab, run: subprocess.Popen[bytes], name: str, silent_since: float
) -> float:
    """Wait until the run's registry logs the agent offline after ``silent_since``; how many
    seconds after it that was."""

    def seen() -> float | None:
        times = [at(e) for e in events(lab.output(run), "agent offline", agent=name)]
        return next((t for t in times if t >= silent_since), None)

    return wait_until(seen, f"{name} to be offline") - silent_since


def start(lab: RemoteLab, name: str, *, heartbeat_s: float, connect: str | None = None,
          sleep_s: int = SLEEP_S) -> subprocess.Popen[bytes]:  # fmt: skip
    return lab.start_agent(
        name, connect=connect, sleep_s=sleep_s,
        extra_env={"CHIFFON_HEARTBEAT_INTERVAL_S": str(heartbeat_s)},
    )  # fmt: skip


def start_kuma(lab: RemoteLab) -> tuple[subprocess.Popen[bytes], uuid.UUID, dict[str, Any]]:
    """``chiffon run --yes --json`` the README request; once its first step runs on an agent,
    the process, its run and that step."""
    since = dt.datetime.now(dt.UTC)
    run = lab.start_run("--yes", "--json", README_REQUEST)
    run_id = lab.run_of(run, since)
    return run, run_id, running_on_agent(lab, run_id, "uptime-kuma")


def lost_and_paused(lab: RemoteLab, run_id: uuid.UUID, step: dict[str, Any]) -> None:
    """Wait until the run has interrupted ``step`` (its agent lost) and paused for an agent."""
    wait_until(
        lambda: (
            lab.records.run(run_id)["status"] == "paused"
            and lab.records.steps(run_id)[0]["status"] == "interrupted"
        ),
        lambda: f"the attempt interrupted and the run paused: {attempts(lab, run_id)}",
    )
    assert lab.records.steps(run_id)[0]["id"] == step["id"]


# -- the broker restarted ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heartbeat_s", "beyond_offline_limit"),
    [(LONG_HEARTBEAT_S, False), (SHORT_HEARTBEAT_S, True)],
    ids=["within-the-offline-limit", "beyond-the-offline-limit"],
)
def test_a_broker_stopped_and_started_mid_step_loses_no_result_and_the_run_succeeds(
    own_lab: RemoteLab, broker: RabbitNode, heartbeat_s: float, beyond_offline_limit: bool
) -> None:
    lab = own_lab
    name = lab.add_agent()
    agent = start(lab, name, heartbeat_s=heartbeat_s)
    run, run_id, step = start_kuma(lab)

    down_at = broker.stop_app()
    try:
        # The playbook goes on without the broker; its result waits in the agent's publisher.
        assert finished_on_agent(lab, name, step)["status"] == "succeeded"
        if beyond_offline_limit:
            lost_and_paused(lab, run_id, step)
    finally:
        up_at = broker.start_app()

    figures = {
        "outage_s": up_at - down_at,
        "agent_reconnected_s": reconnected(lab, agent, down_at) - broker.accepted_at,
        "orchestrator_reconnected_s": reconnected(lab, run, down_at) - broker.accepted_at,
    }
    summary = lab.summary(run)
    assert run.returncode == 0, lab.output(run)[-3000:]
    if beyond_offline_limit:
        assert_retried_after_losing_the_agent(lab, run_id, summary, step, run)
        [lost] = events(lab.output(agent), "bridge connection lost")
        figures["offline_detected_s"] = offline_latency(lab, run, name, at(lost))
        assert events(lab.output(run), "agent back online", agent=name)
    else:
        assert_one_attempt_each(lab, run_id, summary)
        assert_stayed_online(lab, name, run)
    assert_nothing_refused(lab, name, run, agent)
    assert agent.poll() is None
    print(f"figure: broker stop_app/start_app ({'beyond' if beyond_offline_limit else 'within'}"
          f" the offline limit, heartbeat {heartbeat_s:g} s): "
          + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))  # fmt: skip


def test_a_broker_killed_with_sigkill_mid_step_keeps_its_queues_and_persistent_messages(
    own_lab: RemoteLab, broker: RabbitNode
) -> None:
    """The orchestrator is frozen (SIGSTOP) while the step finishes, so the agent's output
    and result wait in the orchestrator's queue, unacknowledged, when the broker is killed:
    after the broker boots again they are still there, and the run goes on with them."""
    lab = own_lab
    name = lab.add_agent()
    agent = start(lab, name, heartbeat_s=LONG_HEARTBEAT_S)
    run, run_id, step = start_kuma(lab)
    [connected] = events(lab.output(run), "bridge connected")
    queue = connected["queue"]

    os.kill(run.pid, signal.SIGSTOP)
    try:
        assert finished_on_agent(lab, name, step)["status"] == "succeeded"
        before = wait_until(lambda: broker.queue_depths().get(queue), f"messages in {queue}")
        down_at = broker.kill()
        up_at = broker.boot()
        after = broker.queue_depths().get(queue, 0)
        kept = anyio.run(peek, lab.amqp_url, queue)
    finally:
        resumed_at = time_of(lambda: os.kill(run.pid, signal.SIGCONT))

    # The durable queue came back with every persistent message it held, the result among them.
    assert after >= before > 0, (before, after)
    results = [retry for kind, body, retry in kept
               if kind == "step.result" and body["step_id"] == str(step["id"])]  # fmt: skip
    assert results, kept
    figures = {
        "outage_s": up_at - down_at,
        "boot_s": broker.accepted_at - down_at,
        "agent_reconnected_s": reconnected(lab, agent, down_at) - broker.accepted_at,
        # Frozen until then: measured from SIGCONT.
        "orchestrator_reconnected_s": reconnected(lab, run, down_at) - resumed_at,
    }
    summary = lab.summary(run)
    assert run.returncode == 0, lab.output(run)[-3000:]
    assert_one_attempt_each(lab, run_id, summary)
    assert_stayed_online(lab, name, run)
    assert_nothing_refused(lab, name, run, agent)
    print(f"figure: broker SIGKILL and boot: {before} messages in the orchestrator's queue "
          f"before, {after} after (the result among them, published {len(results)} time(s), "
          f"retried: {any(r is not None for r in results)}); "
          + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))  # fmt: skip


async def peek(amqp_url: str, queue_name: str) -> list[tuple[str, dict[str, Any], Any]]:
    """Every message ready in the queue — (kind, body, x-chiffon-retry) per envelope — read
    with a plain AMQP client and handed back to the queue."""
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        held = []
        with anyio.fail_after(30):
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                held.append(message)
        found = [
            (envelope["kind"], envelope["body"], (m.headers or {}).get("x-chiffon-retry"))
            for m in held
            for envelope in json.loads(m.body)
        ]
        for message in held:
            await message.nack(requeue=True)
    return found


# -- an agent cut off ----------------------------------------------------------------------


def test_an_agent_cut_off_for_less_than_two_heartbeats_mid_step_keeps_its_attempt(
    remote_lab: RemoteLab, proxy: TcpProxy
) -> None:
    lab = remote_lab
    name = lab.add_agent()
    agent = start(lab, name, heartbeat_s=LONG_HEARTBEAT_S, connect=proxy.url(lab.amqp_url))
    run, run_id, step = start_kuma(lab)

    cut_at = time_of(proxy.cut)
    try:
        # Cut off, the agent finishes the step; its result waits for the connection.
        assert finished_on_agent(lab, name, step)["status"] == "succeeded"
        assert events(lab.output(agent), "bridge connection lost")
    finally:
        restored_at = time_of(proxy.restore)

    figures = {
        "cut_s": restored_at - cut_at,
        "agent_reconnected_s": reconnected(lab, agent, cut_at) - restored_at,
    }
    summary = lab.summary(run)
    assert run.returncode == 0, lab.output(run)[-3000:]
    assert_one_attempt_each(lab, run_id, summary)
    assert_stayed_online(lab, name, run)
    assert_nothing_refused(lab, name, run, agent)
    # Only the agent was cut off: the orchestrator's own connection never dropped.
    assert events(lab.output(run), "bridge connection lost") == []
    print(f"figure: agent cut off for less than two heartbeats ({LONG_HEARTBEAT_S:g} s): "
          + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))  # fmt: skip


@pytest.mark.parametrize("taker", ["the same agent", "another agent"])
def test_an_agent_cut_off_for_longer_is_offline_and_a_new_attempt_succeeds(
    remote_lab: RemoteLab, proxy: TcpProxy, taker: str
) -> None:
    lab = remote_lab
    name = lab.add_agent()
    agent = start(lab, name, heartbeat_s=SHORT_HEARTBEAT_S, connect=proxy.url(lab.amqp_url))
    run, run_id, step = start_kuma(lab)
    other = None
    if taker == "another agent":
        # Started once the first attempt is out: the cut-off agent surely had it. Its own
        # attempt outlasts the cut, so the late result comes while the run still needs it.
        other_name = lab.add_agent("other")
        other = start(lab, other_name, heartbeat_s=SHORT_HEARTBEAT_S, sleep_s=3 * SLEEP_S)

    cut_at = time_of(proxy.cut)
    try:
        latency = offline_latency(lab, run, name, cut_at)
        if other is None:
            lost_and_paused(lab, run_id, step)
        else:
            wait_until(
                lambda: [s["agent"] for s in lab.records.steps(run_id)][:2] == [name, other_name],
                lambda: f"a second attempt on {other_name}: {lab.records.steps(run_id)}",
            )
        assert finished_on_agent(lab, name, step)["status"] == "succeeded"
    finally:
        restored_at = time_of(proxy.restore)

    figures = {
        "offline_detected_s": latency,
        "agent_reconnected_s": reconnected(lab, agent, cut_at) - restored_at,
    }
    summary = lab.summary(run)
    assert run.returncode == 0, lab.output(run)[-3000:]
    if other is None:
        assert_retried_after_losing_the_agent(lab, run_id, summary, step, run)
    else:
        assert_taken_over(lab, run_id, summary, step, run)
    assert events(lab.output(run), "agent back online", agent=name)
    assert_nothing_refused(lab, name, run, agent)
    print(f"figure: agent cut off beyond two heartbeats ({SHORT_HEARTBEAT_S:g} s), new attempt "
          f"on {taker}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))  # fmt: skip


def assert_taken_over(
    lab: RemoteLab, run_id: uuid.UUID, summary: dict[str, Any], lost: dict[str, Any],
    run: subprocess.Popen[bytes],
) -> None:  # fmt: skip
    """The first attempt interrupted, the second on the other agent succeeded at once (no
    pause), the late result of the first ignored."""
    assert summary["status"] == "succeeded", summary
    assert attempts(lab, run_id) == [
        ("uptime-kuma", 1, "interrupted"), ("uptime-kuma", 2, "succeeded"),
        ("uptime-kuma-monitors", 1, "succeeded"),
    ]  # fmt: skip
    assert "paused" not in lab.records.run_states(run_id)
    assert assert_what_survived(lab, run_id) == {(lost["id"], 1): "succeeded"}
    ignored = events(lab.output(run), "result for no current step ignored", step_id=str(lost["id"]))
    assert ignored, lab.output(run)[-3000:]
    assert lab.executions() == Counter({"uptime-kuma": 2, "uptime-kuma-monitors": 1})


def time_of(action: Callable[[], None]) -> float:
    """Do ``action``; the wall-clock time it was done."""
    action()
    return time.time()
