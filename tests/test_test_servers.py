"""The suite's own rules about servers: the machine's broker is never guessed, and a broker the
tests stop or kill is one they started — the machine's stays up through it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aio_pika
import pytest

from tests.machine_broker import state
from tests.rabbitmq_node import RabbitNode

REPO = Path(__file__).resolve().parent.parent
ONE_BROKER_TEST = "tests/bridge/test_bridge.py"


def pytest_run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("CHIFFON_TEST_AMQP_URL", "CI")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *args],
        capture_output=True, text=True, env={**clean, **env}, cwd=REPO, timeout=300,
        check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_without_chiffon_test_amqp_url_broker_tests_skip_and_fail_under_ci() -> None:
    """No fallback to guest on 127.0.0.1:5672, which may be anyone's broker."""
    skipped = pytest_run(ONE_BROKER_TEST, "-x")
    assert skipped.returncode == 0, skipped.stdout[-2000:]
    assert "CHIFFON_TEST_AMQP_URL is not set" in skipped.stdout
    assert " passed" not in skipped.stdout, skipped.stdout[-2000:]

    failed = pytest_run(ONE_BROKER_TEST, "-x", CI="1")
    assert failed.returncode == 1, failed.stdout[-2000:]
    assert "CHIFFON_TEST_AMQP_URL is not set" in failed.stdout


@pytest.mark.rabbitmq
@pytest.mark.slow
async def test_the_sessions_own_node_is_killed_and_booted_while_the_machines_broker_stays_up(
    amqp_url: str, rabbitmq_node: RabbitNode
) -> None:
    assert rabbitmq_node.amqp_url != amqp_url
    before = state(amqp_url)
    async with await aio_pika.connect(amqp_url, heartbeat=0) as held:
        rabbitmq_node.kill()
        assert not rabbitmq_node.accepting()
        rabbitmq_node.boot()
        async with await aio_pika.connect(rabbitmq_node.amqp_url) as connection:
            assert not connection.is_closed
        assert not held.is_closed
        channel = await held.channel()
        await channel.close()
    after = state(amqp_url)
    if before is not None and after is not None:
        assert (after.pid, after.started_at) == (before.pid, before.started_at)
