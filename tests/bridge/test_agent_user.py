"""An agent's own RabbitMQ user, made for real both ways ``chiffon agent add`` makes one —
running ``rabbitmqctl_commands``, and through the management API: enough to be an agent, and
nothing more. Made on a broker the tests may reconfigure (``users_broker``: the session's own
node), never the machine's.

The agent may consume its own queue, publish to the orchestrators' routing keys and to the
dead-letter exchange — a whole ``Bridge`` runs on that login — and the broker refuses it
(the channel closed with ACCESS_REFUSED) anything else: another agent's queue, an agent's
routing key, the default exchange, declaring or binding anything.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import anyio
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from aiormq.exceptions import ChannelAccessRefused, ChannelPreconditionFailed

from chiffon.actors import Actor, ActorSystem, handler
from chiffon.bridge.bridge import Bridge
from chiffon.bridge.credentials import (
    AgentCredentials,
    Keyring,
    create,
    rabbitmqctl_commands,
    save,
    vhost_of,
)
from chiffon.bridge.dead_letters import DeadLetter
from chiffon.bridge.inbox import MemoryInbox
from chiffon.bridge.provision import management_api
from chiffon.bridge.topology import (
    Topology,
    declare_agent_queue,
    declare_exchanges,
    declare_orchestrator_queue,
)
from chiffon.bridge.trust import AgentTrust, OrchestratorTrust
from chiffon.protocol import RunFinished, RunRequested
from tests.bridge.broker_users import UsersBroker, rabbitmqctl_declared_absent, url_for
from tests.bridge.conftest import delete_topology, finished, run_requested

WAIT_S = 20


@dataclass
class Broker:
    """A topology of the test's own with two agents' queues and an orchestrator's, declared
    with the guest login, and agent ``name``'s user made by ``rabbitmqctl_commands``."""

    topology: Topology
    credentials: AgentCredentials
    other: str
    instance: str
    guest_url: str
    agent_url: str


@pytest.fixture(params=["rabbitmqctl", "management-api"])
def made_by(request: pytest.FixtureRequest) -> str:
    """How the agent's user is made: each of ``chiffon agent add``'s two ways."""
    if request.param == "rabbitmqctl" and rabbitmqctl_declared_absent():
        # Said explicitly by a job whose broker is out of rabbitmqctl's reach.
        pytest.skip("CHIFFON_TEST_RABBITMQCTL=none: this job has no rabbitmqctl for it")
    return str(request.param)


@contextlib.asynccontextmanager
async def agent_user(users: UsersBroker, made_by: str) -> AsyncIterator[Broker]:
    amqp_url = users.url
    tag = secrets.token_hex(4)
    topology = Topology(exchange=f"chiffon-test-{tag}")
    credentials = create(f"perm-{tag}", orchestrator_users=("guest",))
    other, instance = f"other-{tag}", f"test-{tag}"
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        await declare_exchanges(channel, topology)
        await declare_agent_queue(channel, topology, credentials.name)
        await declare_agent_queue(channel, topology, other)
        await declare_orchestrator_queue(channel, topology, instance)
    try:
        if made_by == "rabbitmqctl":
            for command in rabbitmqctl_commands(credentials, vhost="/", topology=topology):
                assert command[0] == "rabbitmqctl"
                await anyio.to_thread.run_sync(users.rabbitmqctl, command[1:])
        elif users.node is not None:
            # The API listens on port 15672, which is the machine's broker's if anything's:
            # the session's own node runs none.
            pytest.skip("the session's own RabbitMQ node runs no management API")
        elif not await anyio.to_thread.run_sync(
            lambda: management_api(amqp_url, credentials, topology=topology)
        ):
            # The plugin is optional: without it `chiffon agent add` prints the commands.
            pytest.skip("no management API answers on the broker's port 15672")
        yield Broker(
            topology, credentials, other, instance, amqp_url,
            url_for(amqp_url, credentials.amqp_user, credentials.amqp_password),
        )  # fmt: skip
    finally:
        if made_by == "rabbitmqctl" or users.node is None:
            await anyio.to_thread.run_sync(users.delete_user, credentials.amqp_user)
        await delete_topology(
            amqp_url, topology,
            [topology.agent_queue(credentials.name), topology.agent_queue(other),
             topology.orchestrator_queue(instance)],
        )  # fmt: skip


async def refused(
    connection: AbstractConnection, attempt: Callable[[AbstractChannel], Awaitable[Any]]
) -> str:
    """Run ``attempt`` on a fresh channel; the broker's sentence when it closes the channel
    with ACCESS_REFUSED (anything else fails the test)."""
    channel = await connection.channel(publisher_confirms=True)
    with anyio.fail_after(WAIT_S), pytest.raises(ChannelAccessRefused) as caught:
        await attempt(channel)
    return str(caught.value)


async def ignore(message: AbstractIncomingMessage) -> None:
    """A consumer that is never expected to be called."""


async def take_one(channel: AbstractChannel, queue_name: str) -> aio_pika.IncomingMessage:
    """The next message of ``queue_name``, by a consumer (as the bridge takes them)."""
    queue = await channel.get_queue(queue_name)
    async with queue.iterator() as messages:
        message = await anext(messages)
        await message.ack()
    assert isinstance(message, aio_pika.IncomingMessage)
    return message


async def test_an_agents_user_consumes_its_queue_and_publishes_to_the_orchestrators(
    users_broker: UsersBroker, made_by: str
) -> None:
    async with agent_user(users_broker, made_by) as broker:
        topology, name = broker.topology, broker.credentials.name
        user = broker.credentials.amqp_user
        async with (
            await aio_pika.connect(broker.guest_url) as guest,
            await aio_pika.connect(broker.agent_url) as agent,
        ):
            guest_channel = await guest.channel(publisher_confirms=True)
            guest_exchange = await guest_channel.get_exchange(topology.exchange)
            await guest_exchange.publish(
                aio_pika.Message(b"for the agent"), f"agent.{name}", mandatory=True
            )
            agent_channel = await agent.channel(publisher_confirms=True)
            with anyio.fail_after(WAIT_S):
                assert (await take_one(agent_channel, topology.agent_queue(name))).body == (
                    b"for the agent"
                )

            exchange = await agent_channel.get_exchange(topology.exchange)  # passive: allowed
            dead = await agent_channel.get_exchange(topology.dead_letter_exchange)
            for route in (f"orchestrator.{broker.instance}", "orchestrators"):
                await exchange.publish(
                    aio_pika.Message(route.encode(), user_id=user), route, mandatory=True
                )
            await dead.publish(aio_pika.Message(b"refused", user_id=user), "")
            with anyio.fail_after(WAIT_S):
                queue = topology.orchestrator_queue(broker.instance)
                got = [(await take_one(guest_channel, queue)).body for _ in range(2)]
                kept = await take_one(guest_channel, topology.dead_letter_queue)
                audited = await take_one(guest_channel, topology.dead_letter_audit_queue)
            assert sorted(got) == [b"orchestrator." + broker.instance.encode(), b"orchestrators"]
            assert (kept.body, kept.user_id, audited.body) == (b"refused", user, b"refused")


async def test_an_agents_user_is_refused_everything_else(
    users_broker: UsersBroker, made_by: str
) -> None:
    async with agent_user(users_broker, made_by) as broker:
        topology, name, other = broker.topology, broker.credentials.name, broker.other
        user = broker.credentials.amqp_user
        vhost = f"in vhost '/' refused for user '{user}'"
        async with await aio_pika.connect(broker.agent_url) as agent:

            async def consume_other(channel: AbstractChannel) -> None:
                queue = await channel.get_queue(topology.agent_queue(other))
                await queue.consume(ignore)

            async def consume_dead_letters(channel: AbstractChannel) -> None:
                queue = await channel.get_queue(topology.dead_letter_audit_queue)
                await queue.consume(ignore)

            async def publish_to_other(channel: AbstractChannel) -> None:
                exchange = await channel.get_exchange(topology.exchange)
                await exchange.publish(aio_pika.Message(b"x", user_id=user), f"agent.{other}")

            async def publish_to_itself(channel: AbstractChannel) -> None:
                exchange = await channel.get_exchange(topology.exchange)
                await exchange.publish(aio_pika.Message(b"x", user_id=user), f"agent.{name}")

            async def publish_by_the_default_exchange(channel: AbstractChannel) -> None:
                await channel.default_exchange.publish(
                    aio_pika.Message(b"x", user_id=user), topology.agent_queue(other)
                )

            async def declare_exchange(channel: AbstractChannel) -> None:
                await channel.declare_exchange(f"{topology.exchange}.mine", durable=False)

            async def declare_queue(channel: AbstractChannel) -> None:
                await channel.declare_queue(f"{topology.exchange}.agent.{name}.spare")

            async def bind_own_queue_to_others_key(channel: AbstractChannel) -> None:
                queue = await channel.get_queue(topology.agent_queue(name))
                await queue.bind(topology.exchange, f"agent.{other}")

            sentences = {
                attempt.__name__: (await refused(agent, attempt)).removeprefix("ACCESS_REFUSED - ")
                for attempt in (
                    consume_other, consume_dead_letters, publish_to_other, publish_to_itself,
                    publish_by_the_default_exchange, declare_exchange, declare_queue,
                    bind_own_queue_to_others_key,
                )
            }  # fmt: skip

            # And what the broker itself refuses whatever the permissions: another user's id.
            channel = await agent.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(topology.exchange)
            with anyio.fail_after(WAIT_S), pytest.raises(ChannelPreconditionFailed) as caught:
                await exchange.publish(
                    aio_pika.Message(b"x", user_id="guest"), f"orchestrator.{broker.instance}"
                )
            assert "user_id property set to 'guest' but authenticated user was" in str(caught.value)

    # RabbitMQ names the resource, not the permission (configure, write, read) it lacked.
    queue, exchange_ = "access to queue", "access to exchange"
    topic = f"in exchange '{topology.exchange}' {vhost}"
    assert sentences == {
        "consume_other": f"{queue} '{topology.agent_queue(other)}' {vhost}",
        "consume_dead_letters": f"{queue} '{topology.dead_letter_audit_queue}' {vhost}",
        "publish_to_other": f"access to topic 'agent.{other}' {topic}",
        "publish_to_itself": f"access to topic 'agent.{name}' {topic}",
        "publish_by_the_default_exchange": f"{exchange_} 'amq.default' {vhost}",
        "declare_exchange": f"{exchange_} '{topology.exchange}.mine' {vhost}",
        "declare_queue": f"{queue} '{topology.exchange}.agent.{name}.spare' {vhost}",
        "bind_own_queue_to_others_key": f"{queue} '{topology.agent_queue(name)}' {vhost}",
    }


class Agent(Actor):
    @handler
    async def on_request(self, message: RunRequested) -> RunFinished:
        return finished(message.run_id)


async def test_a_bridge_runs_as_the_agents_user_and_dead_letters_with_it(
    users_broker: UsersBroker, made_by: str, tmp_path: Path
) -> None:
    """The agent's whole bridge on its own login: it finds its queue and exchanges without
    declaring them, answers an ask from the orchestrator, and publishes what it refuses to
    the dead-letter exchange, where the orchestrator records it."""
    async with agent_user(users_broker, made_by) as broker:
        save(broker.credentials, tmp_path / "keys")
        recorded: list[DeadLetter] = []
        arrived = anyio.Event()

        async def record(letter: DeadLetter) -> None:
            recorded.append(letter)
            arrived.set()

        async with (
            ActorSystem(name="orch") as orchestrator_system,
            ActorSystem(name="agent") as agent_system,
            Bridge(
                broker.guest_url, orchestrator_system,
                OrchestratorTrust(broker.instance, Keyring(tmp_path / "keys"), broker.topology),
                MemoryInbox(), orchestrator=True, topology=broker.topology,
                record_dead_letter=record,
            ) as orchestrator,
            Bridge(
                broker.agent_url, agent_system, AgentTrust(broker.credentials, broker.topology),
                MemoryInbox(), orchestrator=False, topology=broker.topology,
            ) as agent,
        ):  # fmt: skip
            await agent_system.spawn(Agent, name="agent")
            remote = orchestrator.ref(f"agent.{broker.credentials.name}", "agent")
            request = run_requested()
            with anyio.fail_after(WAIT_S):
                answer = await remote.ask(request, timeout=WAIT_S)
            assert answer == finished(request.run_id)

            async with await aio_pika.connect(broker.guest_url) as guest:
                channel = await guest.channel(publisher_confirms=True)
                exchange = await channel.get_exchange(broker.topology.exchange)
                await exchange.publish(
                    aio_pika.Message(b"[]", user_id="guest", message_id=str(uuid.uuid4())),
                    f"agent.{broker.credentials.name}",
                    mandatory=True,
                )
            with anyio.fail_after(WAIT_S):
                await arrived.wait()
            assert agent.statistics.dead_lettered == 1
            (letter,) = recorded
            assert (letter.code, letter.user_id) == ("unsigned", "guest")
            assert letter.queue == broker.topology.agent_queue(broker.credentials.name)


async def test_an_agents_user_is_made_on_the_vhost_the_orchestrators_url_names(
    users_broker: UsersBroker,
) -> None:
    """Issue 17: `chiffon agent add --apply` granted on vhost ``/`` whatever the URL said, so
    the agent was refused on its own vhost and could write on the wrong one."""
    if users_broker.node is None:
        pytest.skip("a vhost of the test's own needs rabbitmqctl on the session's own node")
    tag = secrets.token_hex(4)
    vhost = f"lab-{tag}"
    url = users_broker.url.rstrip("/") + "/" + vhost
    assert vhost_of(url) == vhost
    assert vhost_of(users_broker.url) == "/"
    credentials = create(f"vhost-{tag}", orchestrator_users=("guest",))
    commands = rabbitmqctl_commands(credentials, vhost=vhost_of(url))
    assert all(c[c.index("-p") + 1] == vhost for c in commands if "-p" in c)
    users_broker.rabbitmqctl(["add_vhost", vhost])
    try:
        users_broker.rabbitmqctl(["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"])
        for command in commands:
            await anyio.to_thread.run_sync(users_broker.rabbitmqctl, command[1:])
        topology = Topology()
        async with await aio_pika.connect(url) as guest:
            await declare_exchanges(await guest.channel(), topology)
            await declare_agent_queue(await guest.channel(), topology, credentials.name)
        agent_url = url_for(url, credentials.amqp_user, credentials.amqp_password)
        async with await aio_pika.connect(agent_url) as agent:
            channel = await agent.channel()
            await channel.get_queue(topology.agent_queue(credentials.name))  # its own: allowed
        elsewhere = url_for(users_broker.url, credentials.amqp_user, credentials.amqp_password)
        with pytest.raises(Exception, match=r"Connection\.Close"):  # access to vhost refused
            await aio_pika.connect(elsewhere)
    finally:
        users_broker.delete_user(credentials.amqp_user)
        users_broker.rabbitmqctl(["delete_vhost", vhost])
