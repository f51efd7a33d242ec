"""Two processes' worth of Chiffon on the machine's RabbitMQ, in one test: an orchestrator
side and an agent side, each an actor system with its own bridge, on a topology of the
test's own (a unique exchange prefix), removed afterwards."""

from __future__ import annotations

import contextlib
import secrets
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import anyio
import pytest

from chiffon.actors import ActorSystem
from chiffon.bridge.bridge import Bridge, DeadLetterRecorder
from chiffon.bridge.credentials import AgentCredentials, Keyring, create, save
from chiffon.bridge.dead_letters import DeadLetter
from chiffon.bridge.inbox import MemoryInbox
from chiffon.bridge.topology import Topology, declare_agent_queue, declare_exchanges
from chiffon.bridge.trust import AgentTrust, OrchestratorTrust
from chiffon.protocol import RunFinished, RunRequested, StepExecute
from tests.bridge.broker_users import UsersBroker, rabbitmqctl_declared_absent
from tests.rabbitmq_node import RabbitNode


def run_requested(text: str = "deploy kuma") -> RunRequested:
    return RunRequested(run_id=uuid.uuid4(), request=text, requested_by="tester")


def finished(run_id: uuid.UUID) -> RunFinished:
    return RunFinished(run_id=run_id, status="succeeded")


def execute(**changes: object) -> StepExecute:
    fields: dict[str, object] = {
        "run_id": uuid.uuid4(), "step_id": uuid.uuid4(), "attempt": 1, "position": 0,
        "playbook": "uptime-kuma",
        "digest": "sha256:0", "hosts": ("monitoring",), "variables": {},
        "approval_id": uuid.uuid4(), "plan_hash": "sha256:1",
    }  # fmt: skip
    fields.update(changes)
    return StepExecute.model_validate(fields)


@dataclass
class Pair:
    topology: Topology
    credentials: AgentCredentials
    keys_dir: Path
    orchestrator: Bridge
    agent: Bridge
    orchestrator_system: ActorSystem
    agent_system: ActorSystem
    dead: list[DeadLetter]


async def setup_topology(url: str, topology: Topology, agent: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await declare_exchanges(channel, topology)
        await declare_agent_queue(channel, topology, agent)


async def delete_topology(url: str, topology: Topology, queues: list[str]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for queue in [*queues, topology.dead_letter_queue, topology.dead_letter_audit_queue]:
            with contextlib.suppress(Exception):
                await channel.queue_delete(queue)
        for exchange in (topology.exchange, topology.dead_letter_exchange):
            with contextlib.suppress(Exception):
                await channel.exchange_delete(exchange)


@contextlib.asynccontextmanager
async def bridged_pair(
    url: str, tmp_path: Path, *, record: DeadLetterRecorder | None = None, prefetch: int = 100
) -> AsyncIterator[Pair]:
    topology = Topology(exchange=f"chiffon-test-{secrets.token_hex(4)}")
    credentials = create("agent-1", amqp_user="guest", orchestrator_users=("guest",))
    keys_dir = tmp_path / "keys"
    save(credentials, keys_dir)
    await setup_topology(url, topology, credentials.name)
    dead: list[DeadLetter] = []

    async def keep(letter: DeadLetter) -> None:
        dead.append(letter)

    instance = f"test-{secrets.token_hex(3)}"
    try:
        async with (
            ActorSystem(name="orch") as orchestrator_system,
            ActorSystem(name="agent") as agent_system,
            Bridge(
                url, orchestrator_system,
                OrchestratorTrust(instance, Keyring(keys_dir), topology), MemoryInbox(),
                orchestrator=True, topology=topology, record_dead_letter=record or keep,
                prefetch=prefetch,
            ) as orchestrator,
            Bridge(
                url, agent_system, AgentTrust(credentials, topology), MemoryInbox(),
                orchestrator=False, topology=topology, prefetch=prefetch,
            ) as agent,
        ):  # fmt: skip
            yield Pair(
                topology, credentials, keys_dir, orchestrator, agent, orchestrator_system,
                agent_system, dead,
            )  # fmt: skip
    finally:
        await delete_topology(
            url, topology,
            [topology.agent_queue(credentials.name), topology.orchestrator_queue(instance)],
        )  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class OrchestratorSide:
    """An orchestrator process alone on the broker, for an agent that is not Chiffon's:
    ``credentials`` are the agent's, as ``chiffon agent add`` writes them (their JSON form is
    what the agent's machine gets)."""

    topology: Topology
    credentials: AgentCredentials
    instance: str
    bridge: Bridge
    system: ActorSystem
    dead: list[DeadLetter]


class Letters:
    """Dead letters as the bridge hands them to its recorder, awaited by count."""

    """The orchestrator's dead-letter audit records, awaitable."""

    def __init__(self) -> None:
        self.kept: list[DeadLetter] = []
        self.changed = anyio.Event()

    async def record(self, letter: DeadLetter) -> None:
        self.kept.append(letter)
        self.changed.set()
        self.changed = anyio.Event()

    async def wait(self, count: int) -> list[DeadLetter]:
        while len(self.kept) < count:
            await self.changed.wait()
        return self.kept


@contextlib.asynccontextmanager
async def orchestrator_only(
    url: str,
    tmp_path: Path,
    *,
    agent: str = "agent-1",
    agent_user: str = "guest",
    record: DeadLetterRecorder | None = None,
) -> AsyncIterator[OrchestratorSide]:
    """An orchestrator-side actor system and bridge (logged in with ``url``) that knows one
    agent, ``agent``, whose RabbitMQ user is ``agent_user``; on a topology of the test's own,
    with the agent's queue declared as ``chiffon agent add`` declares it."""
    topology = Topology(exchange=f"chiffon-test-{secrets.token_hex(4)}")
    orchestrator_user = urllib.parse.unquote(urllib.parse.urlsplit(url).username or "guest")
    credentials = create(agent, amqp_user=agent_user, orchestrator_users=(orchestrator_user,))
    keys_dir = tmp_path / "keys"
    save(credentials, keys_dir)
    await setup_topology(url, topology, credentials.name)
    dead: list[DeadLetter] = []

    async def keep(letter: DeadLetter) -> None:
        dead.append(letter)

    instance = f"test-{secrets.token_hex(3)}"
    try:
        async with (
            ActorSystem(name="orch") as system,
            Bridge(
                url, system, OrchestratorTrust(instance, Keyring(keys_dir), topology),
                MemoryInbox(), orchestrator=True, topology=topology,
                record_dead_letter=record or keep,
            ) as bridge,
        ):  # fmt: skip
            yield OrchestratorSide(topology, credentials, instance, bridge, system, dead)
    finally:
        await delete_topology(
            url, topology,
            [topology.agent_queue(credentials.name), topology.orchestrator_queue(instance)],
        )  # fmt: skip


@pytest.fixture(scope="session")
def users_broker(request: pytest.FixtureRequest) -> UsersBroker:
    """The broker on which tests add and delete users: the session's own node — or, in a job
    that says it has no ``rabbitmqctl`` (GitHub's), the job's own service container through
    its management API. Never the machine's broker otherwise: its users are someone's."""
    if rabbitmqctl_declared_absent():
        return UsersBroker(str(request.getfixturevalue("amqp_url")), None)
    node: RabbitNode = request.getfixturevalue("rabbitmq_node")
    return UsersBroker(node.amqp_url, node)
