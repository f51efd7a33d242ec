"""``chiffon bench amqp`` against the machine's RabbitMQ: the scenario runs end to end, prints
its two results in the bench's JSON shape, and leaves nothing on the broker. No timings."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import aio_pika
import anyio
import pytest
from aio_pika.exceptions import ChannelNotFoundEntity

from chiffon.bench import baselines
from chiffon.bench.amqp import AGENT, INSTANCE, amqp
from chiffon.bridge.topology import Topology

SHAPE = {
    "scenario", "messages", "concurrency", "seconds", "ours", "baseline", "ratio",
    "baseline_seconds", "p50_us", "p99_us",
}  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def chiffon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chiffon", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    clean["CHIFFON_HOME"] = str(tmp_path / "home")
    return clean


def test_bench_amqp_prints_a_tell_and_an_ask_result_each_beside_raw_aio_pika(
    amqp_url: str, env: dict[str, str]
) -> None:
    env["CHIFFON_AMQP_URL"] = amqp_url
    result = chiffon("bench", "amqp", "--messages", "256", "--concurrency", "8", "--json", env=env)
    assert result.returncode == 0, result.stderr
    tell, ask = (json.loads(line) for line in result.stdout.strip().splitlines())
    for figures in (tell, ask):
        assert figures.keys() >= SHAPE
        assert figures["ours"] > 0
        assert figures["baseline"] > 0
        assert figures["ratio"] == pytest.approx(figures["ours"] / figures["baseline"], rel=0.01)
        assert 0 < figures["p50_us"] <= figures["p99_us"]
        assert 0 < figures["baseline_p50_us"] <= figures["baseline_p99_us"]
        assert figures["inbox"] == "memory"
    assert (tell["scenario"], tell["messages"], tell["concurrency"]) == ("amqp-tell", 256, 8)
    assert (ask["scenario"], ask["messages"], ask["concurrency"]) == ("amqp-ask", 32, 1)
    assert 1 <= tell["envelopes_per_amqp_message"] <= 8


def test_bench_amqp_as_a_table_names_both_results(amqp_url: str, env: dict[str, str]) -> None:
    env["CHIFFON_AMQP_URL"] = amqp_url
    result = chiffon("bench", "amqp", "--messages", "64", "--concurrency", "4", env=env)
    assert result.returncode == 0, result.stderr
    header, _rule, tell, ask = result.stdout.strip().splitlines()
    assert header.split()[:2] == ["scenario", "messages"]
    assert tell.split()[:2] == ["amqp-tell", "64"]
    assert ask.split()[:2] == ["amqp-ask", "8"]


async def test_the_scenario_deletes_every_exchange_and_queue_it_declared(amqp_url: str) -> None:
    prefix = f"chiffon-bench-test-{secrets.token_hex(4)}"
    with anyio.fail_after(60):
        tell, ask = await amqp(amqp_url, 40, 5, 4, 100, prefix=prefix)
    assert (tell.messages, ask.messages) == (40, 5)
    topology = Topology(exchange=prefix)
    queues = [
        topology.agent_queue(AGENT), topology.orchestrator_queue(INSTANCE),
        topology.dead_letter_queue, topology.dead_letter_audit_queue,
        *baselines.amqp_queues(prefix),
    ]  # fmt: skip
    exchanges = [
        topology.exchange,
        topology.dead_letter_exchange,
        *baselines.amqp_exchanges(prefix),
    ]
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for name in queues:
            channel = await connection.channel()
            with pytest.raises(ChannelNotFoundEntity):
                await channel.get_queue(name, ensure=True)
        for name in exchanges:
            channel = await connection.channel()
            with pytest.raises(ChannelNotFoundEntity):
                await channel.get_exchange(name, ensure=True)


def test_an_unreachable_broker_stops_the_bench_with_one_sentence_and_no_password(
    env: dict[str, str],
) -> None:
    env["CHIFFON_AMQP_URL"] = "amqp://bench:hunter2@127.0.0.1:1/"
    result = chiffon("bench", "amqp", "--messages", "16", "--json", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "chiffon: cannot connect to RabbitMQ at amqp://bench:***@127.0.0.1:1/"
    )
    assert "hunter2" not in result.stderr + result.stdout
    assert result.stdout == ""
