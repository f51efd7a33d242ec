"""The bridge against the machine's RabbitMQ: remote refs behave as local ones."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import pytest

from chiffon.actors import Actor, ActorRef, handler
from chiffon.bridge.errors import RemoteError, Unroutable
from chiffon.protocol import RunFinished, RunRequested, StepExecute
from tests.bridge.conftest import bridged_pair, execute, finished, run_requested


class Agent(Actor):
    """Stands for an agent: records what it is told, answers asks, fails on request."""

    def __init__(self, expected: int = 1) -> None:
        self.executed: list[StepExecute] = []
        self.senders: list[ActorRef | None] = []
        self.expected = expected
        self.all_seen = anyio.Event()

    @handler
    async def on_execute(self, message: StepExecute) -> None:
        self.executed.append(message)
        self.senders.append(self.context.sender)
        sender = self.context.sender
        if sender is not None:
            await sender.tell(finished(message.run_id))
        if len(self.executed) >= self.expected:
            self.all_seen.set()

    @handler
    async def on_request(self, message: RunRequested) -> RunFinished:
        if message.request == "fail":
            raise ValueError("asked to fail")
        return finished(message.run_id)


class Run(Actor):
    def __init__(self) -> None:
        self.results: list[RunFinished] = []
        self.done = anyio.Event()

    @handler
    async def on_finished(self, message: RunFinished) -> None:
        self.results.append(message)
        self.done.set()


async def test_a_tell_reaches_the_remote_actor_and_its_answer_comes_back_to_the_sender(
    amqp_url: str, tmp_path: Path
) -> None:
    async with bridged_pair(amqp_url, tmp_path) as pair:
        agent = Agent()
        await pair.agent_system.spawn(lambda: agent, name="agent")
        run = Run()
        run_ref = await pair.orchestrator_system.spawn(lambda: run, name="run-1")
        remote = pair.orchestrator.ref("agent.agent-1", "agent")
        message = execute()
        with anyio.fail_after(10):
            await remote.tell(message, sender=run_ref)
            await run.done.wait()
        assert agent.executed == [message]
        assert [r.run_id for r in run.results] == [message.run_id]
        sender = agent.senders[0]
        assert sender is not None
        assert sender.address.endswith("/run-1")


async def test_an_ask_is_answered_and_a_remote_failure_is_raised_with_its_code(
    amqp_url: str, tmp_path: Path
) -> None:
    async with bridged_pair(amqp_url, tmp_path) as pair:
        await pair.agent_system.spawn(Agent, name="agent")
        remote = pair.orchestrator.ref("agent.agent-1", "agent")
        request = run_requested()
        with anyio.fail_after(10):
            answer = await remote.ask(request, timeout=5)
            assert isinstance(answer, RunFinished)
            assert answer.run_id == request.run_id
            with pytest.raises(RemoteError, match="ValueError: asked to fail"):
                await remote.ask(run_requested("fail"), timeout=5)


async def test_a_message_to_a_queue_nobody_binds_is_an_error_not_a_silent_drop(
    amqp_url: str, tmp_path: Path
) -> None:
    async with bridged_pair(amqp_url, tmp_path) as pair:
        pair.orchestrator.trust.keyring.get("agent-1")  # type: ignore[attr-defined]
        remote = pair.agent.ref("orchestrator.nobody-here", "registry")
        with anyio.fail_after(10), pytest.raises(Unroutable, match=r"orchestrator\.nobody-here"):
            await remote.tell(finished(uuid.uuid4()))


async def test_many_concurrent_tells_all_arrive_once(amqp_url: str, tmp_path: Path) -> None:
    async with bridged_pair(amqp_url, tmp_path) as pair:
        agent = Agent(expected=300)
        await pair.agent_system.spawn(lambda: agent, name="agent")
        remote = pair.orchestrator.ref("agent.agent-1", "agent")
        messages = [execute() for _ in range(300)]
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for message in messages:
                    group.start_soon(remote.tell, message)
            await agent.all_seen.wait()
        assert sorted(m.step_id for m in agent.executed) == sorted(m.step_id for m in messages)
        assert pair.orchestrator._publisher is not None
        assert pair.orchestrator._publisher.published_messages < len(messages)
