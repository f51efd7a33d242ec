"""The bridge's consumer sits under aio-pika's robust channel: when the broker closes the
channel, or the connection drops, it consumes again on what aio-pika restores, and nothing
sent meanwhile is lost. (Broker restarts and kills: tests/remote/test_broker_faults.py.)"""

from __future__ import annotations

from pathlib import Path

import anyio

from chiffon.actors import Actor, ActorSystem, handler
from chiffon.bridge.bridge import Bridge
from chiffon.bridge.inbox import MemoryInbox
from chiffon.bridge.trust import AgentTrust
from chiffon.protocol import RunFinished, RunRequested
from tests.bridge.conftest import bridged_pair, finished, run_requested
from tests.remote.lab import TcpProxy


class Answerer(Actor):
    @handler
    async def on_request(self, message: RunRequested) -> RunFinished:
        return finished(message.run_id)


async def underlay(bridge: Bridge) -> object:
    channel = bridge._channel
    assert channel is not None
    return await channel.get_underlay_channel()


async def answered(bridge: Bridge, times: int = 3) -> None:
    remote = bridge.ref("agent.agent-1", "answerer")
    for _ in range(times):
        request = run_requested()
        answer = await remote.ask(request, timeout=10)
        assert isinstance(answer, RunFinished)
        assert answer.run_id == request.run_id


async def test_a_channel_the_broker_closed_is_consumed_again_once_reopened(
    amqp_url: str, tmp_path: Path
) -> None:
    async with bridged_pair(amqp_url, tmp_path) as pair:
        await pair.agent_system.spawn(Answerer, name="answerer")
        with anyio.fail_after(10):
            await answered(pair.orchestrator)
        before = await underlay(pair.agent)
        reopened = anyio.Event()
        assert pair.agent._channel is not None
        pair.agent._channel.reopen_callbacks.add(lambda *_: reopened.set())  # type: ignore[attr-defined]
        # Acknowledging a delivery tag the channel never gave is a channel error: the broker
        # closes the agent's channel (PRECONDITION_FAILED) and aio-pika reopens it.
        await before.basic_ack(987_654)  # type: ignore[attr-defined]
        with anyio.fail_after(20):
            await reopened.wait()
            await answered(pair.orchestrator)
            assert (await underlay(pair.agent)) is not before


async def test_a_dropped_connection_is_consumed_again_after_reconnecting(
    amqp_url: str, tmp_path: Path
) -> None:
    proxy = TcpProxy.to(amqp_url)
    try:
        async with (
            bridged_pair(amqp_url, tmp_path) as pair,
            ActorSystem(name="agent-behind-proxy") as system,
        ):
            # This agent reaches the broker through a proxy the test can cut; the pair's own
            # agent side stops consuming, so every message on the queue is this one's.
            await pair.agent.stop_consuming()
            agent = Bridge(
                proxy.url(amqp_url), system, AgentTrust(pair.credentials, pair.topology),
                MemoryInbox(), orchestrator=False, topology=pair.topology,
            )  # fmt: skip
            async with agent:
                await system.spawn(Answerer, name="answerer")
                with anyio.fail_after(10):
                    await answered(pair.orchestrator)
                before = await underlay(agent)
                lost = anyio.Event()
                assert agent._connection is not None
                agent._connection.close_callbacks.add(lambda *_: lost.set())
                proxy.cut()
                with anyio.fail_after(10):
                    await lost.wait()
                # An ask published while the agent is away waits in its durable queue.
                with anyio.fail_after(30):
                    async with anyio.create_task_group() as group:
                        group.start_soon(answered, pair.orchestrator, 1)
                        await anyio.sleep(0.5)
                        proxy.restore()
                    assert (await underlay(agent)) is not before
                    await answered(pair.orchestrator)
    finally:
        proxy.close()
