"""Dead letters say who reported them (issue 17): any agent may publish to the dead-letter
exchange (it dead-letters what it refuses), so made-up "refusals" naming another agent
appeared as genuine, and the reporter was lost when no ``user_id`` was set. An agent's
report is recorded as that agent's (the broker checks the ``user_id`` against its login), a
report without ``user_id`` as ``unverified``, and only the orchestrator's own as its refusal;
the dead-letter queues are bounded."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import aio_pika
import anyio
import pytest
from aiormq.abc import FieldValue

from chiffon.bridge.dead_letters import reporter
from tests.bridge.broker_users import UsersBroker, url_for
from tests.bridge.conftest import Letters, orchestrator_only

WAIT_S = 20
AGENT = "agent-1"


@pytest.mark.parametrize(
    ("user_id", "agent", "expected"),
    [
        ("chiffon", None, "orchestrator"),
        ("chiffon-agent-a", "a", "agent:a"),
        ("someone", None, "user:someone"),
        (None, None, "unverified"),
        ("", None, "unverified"),
    ],
)
def test_the_reporter_is_who_the_broker_vouches_for(
    user_id: str | None, agent: str | None, expected: str
) -> None:
    assert reporter(user_id, "chiffon", agent) == expected


@pytest.fixture
def amqp_url(users_broker: UsersBroker) -> str:
    return users_broker.url


async def test_a_dead_letter_an_agent_publishes_is_its_report_never_the_orchestrators(
    users_broker: UsersBroker, tmp_path: Path
) -> None:
    login, password = f"chiffon-test-dl-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    letters = Letters()
    with users_broker.user(login, password, write=r"^chiffon-test-.*$"):
        async with orchestrator_only(
            users_broker.url, tmp_path, agent=AGENT, agent_user=login, record=letters.record
        ) as side:
            forged: dict[str, FieldValue] = {
                "x-chiffon-dead-code": "forged",
                "x-chiffon-dead-reason": "agent other-agent sent a forged step.result",
                "x-chiffon-dead-queue": side.topology.orchestrator_queue(side.instance),
            }
            body = json.dumps([{"kind": "step.result", "sender": "agent:other-agent"}]).encode()
            async with await aio_pika.connect(url_for(users_broker.url, login, password)) as c:
                channel = await c.channel(publisher_confirms=True)
                dead = await channel.get_exchange(side.topology.dead_letter_exchange)
                await dead.publish(
                    aio_pika.Message(body, headers=forged, user_id=login, message_id="1"), ""
                )
                await dead.publish(aio_pika.Message(body, headers=forged, message_id="2"), "")
            with anyio.fail_after(WAIT_S):
                kept = await letters.wait(2)
            # Published with the agent's login as user_id (the broker checks it), then
            # without one: neither is ever the orchestrator's refusal.
            assert [letter.reported_by for letter in kept] == [f"agent:{AGENT}", "unverified"]
            assert [letter.code for letter in kept] == ["forged", "forged"]

            # The queues it fills are bounded: a declared maximum length, oldest dropped.
            async with await aio_pika.connect(users_broker.url) as c:
                channel = await c.channel()
                arguments = side.topology.dead_letter_queue_arguments
                for name in (
                    side.topology.dead_letter_queue,
                    side.topology.dead_letter_audit_queue,
                ):
                    # Declaring with the same arguments succeeds only if the queue has them.
                    await channel.declare_queue(name, durable=True, arguments=arguments)
    assert arguments == {"x-max-length": 10_000, "x-overflow": "drop-head"}
