"""Bad input published straight to the queues with a plain AMQP client, as an attacker or a
broken agent would: each message is dead-lettered with its reason, recorded in the audit
(``dead_letters`` on a real database), and the consumer goes on with the next good message.

Every case runs against the agent's queue (``agent.agent-1``) and the orchestrator's
(``orchestrator.<instance>``) where it makes sense for both. In ``bridged_pair`` the agent's
RabbitMQ user is ``guest``, as is the orchestrator's; a message from another RabbitMQ user is
published by a second user made with ``rabbitmqctl`` for this module.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import anyio
import pytest
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractQueueIterator

from chiffon.actors import Actor, handler
from chiffon.audit.dead_letters import (
    BODY_KEPT,
    DeadLetterRecord,
    list_dead_letters,
    record_dead_letter,
)
from chiffon.bridge.bridge import Bridge
from chiffon.bridge.credentials import create, save
from chiffon.bridge.dead_letters import REPORTED_BY, DeadLetter
from chiffon.bridge.inbox import Inbox
from chiffon.database import Database
from chiffon.protocol import RunFinished, StepExecute
from chiffon.protocol.signing import new_key, sign
from chiffon.protocol.wire import MAX_BODY_BYTES
from tests.audit.seed import database
from tests.bridge.broker_users import UsersBroker, url_for
from tests.bridge.conftest import Pair, bridged_pair, execute, finished

AGENT = "agent-1"
WAIT_S = 20


class Sink(Actor):
    """Records the run id of every message it is told, and lets a test wait for one."""

    def __init__(self) -> None:
        self.seen: list[uuid.UUID] = []
        self._changed = anyio.Event()

    def _note(self, run_id: uuid.UUID) -> None:
        self.seen.append(run_id)
        self._changed.set()
        self._changed = anyio.Event()

    @handler
    async def on_finished(self, message: RunFinished) -> None:
        self._note(message.run_id)

    @handler
    async def on_execute(self, message: StepExecute) -> None:
        self._note(message.run_id)

    async def wait_for(self, run_id: uuid.UUID) -> None:
        while run_id not in self.seen:
            await self._changed.wait()


class Recorder:
    """The orchestrator's dead-letter recorder: ``record_dead_letter`` on a real database,
    keeping the ids it wrote so that a test can wait for them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ids: list[uuid.UUID] = []
        self._changed = anyio.Event()

    async def __call__(self, letter: DeadLetter) -> None:
        self.ids.append(await record_dead_letter(self.db, **dataclasses.asdict(letter)))
        self._changed.set()
        self._changed = anyio.Event()

    async def next_id(self, index: int = 0) -> uuid.UUID:
        while len(self.ids) <= index:
            await self._changed.wait()
        return self.ids[index]


class WatchedInbox:
    """A bridge's inbox that lets a test wait until an envelope id is recorded in it (just
    after delivery, before the ack)."""

    def __init__(self, inner: Inbox) -> None:
        self.inner = inner
        self._changed = anyio.Event()

    async def processed_among(self, consumer: str, message_ids: Sequence[int]) -> set[int]:
        return await self.inner.processed_among(consumer, message_ids)

    async def mark_processed_many(self, consumer: str, message_ids: Sequence[int]) -> None:
        await self.inner.mark_processed_many(consumer, message_ids)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_processed(self, consumer: str, envelope_id: str) -> None:
        while True:
            changed = self._changed
            if await self.inner.processed_among(consumer, [uuid.UUID(envelope_id).int]):
                return
            await changed.wait()


def watched(bridge: Bridge) -> WatchedInbox:
    assert isinstance(bridge.inbox, WatchedInbox)
    return bridge.inbox


@dataclasses.dataclass(frozen=True)
class Side:
    """One consumer under attack: its routing key and queue, a sender it accepts, and the
    name of the actor that takes good messages there."""

    name: str
    route: str
    queue: str
    sender: str
    actor: str


@dataclasses.dataclass
class Harness:
    pair: Pair
    db: Database
    recorder: Recorder
    exchange: AbstractExchange
    dead: AbstractQueueIterator
    sinks: dict[str, Sink]

    @property
    def key(self) -> bytes:
        return self.pair.credentials.key

    def side(self, name: str) -> Side:
        if name == "agent":
            return Side(
                "agent", f"agent.{AGENT}", self.pair.topology.agent_queue(AGENT),
                "orchestrator:tester", "agent",
            )  # fmt: skip
        trust = self.pair.orchestrator.trust
        return Side("orchestrator", trust.route, trust.queue, f"agent:{AGENT}", "sink")

    async def good(self, side: Side) -> None:
        """A good message to ``side`` through the bridges, and its arrival."""
        run_id = uuid.uuid4()
        if side.name == "agent":
            await self.pair.orchestrator.ref(side.route, side.actor).tell(execute(run_id=run_id))
        else:
            await self.pair.agent.ref(side.route, side.actor).tell(finished(run_id))
        await self.sinks[side.name].wait_for(run_id)

    async def dead_letter(self) -> AbstractIncomingMessage:
        """The next message of the dead-letter queue (the one kept for people)."""
        message = await anext(self.dead)
        await message.ack()
        return message

    async def record(self, record_id: uuid.UUID, code: str) -> DeadLetterRecord:
        found = await list_dead_letters(self.db, code=code, since=dt.timedelta(hours=1))
        return next(r for r in found if r.id == record_id)


@asynccontextmanager
async def harness(amqp_url: str, tmp_path: Path, dsn: str) -> AsyncIterator[Harness]:
    async with database(dsn) as db:
        recorder = Recorder(db)
        async with bridged_pair(amqp_url, tmp_path, record=recorder) as pair:
            pair.agent.inbox = WatchedInbox(pair.agent.inbox)
            pair.orchestrator.inbox = WatchedInbox(pair.orchestrator.inbox)
            sinks = {"agent": Sink(), "orchestrator": Sink()}
            await pair.agent_system.spawn(lambda: sinks["agent"], name="agent")
            await pair.orchestrator_system.spawn(lambda: sinks["orchestrator"], name="sink")
            async with await aio_pika.connect(amqp_url) as connection:
                channel = await connection.channel(publisher_confirms=True)
                exchange = await channel.get_exchange(pair.topology.exchange)
                watcher = await connection.channel()
                await watcher.set_qos(prefetch_count=10)
                queue = await watcher.get_queue(pair.topology.dead_letter_queue)
                async with queue.iterator() as dead:
                    yield Harness(pair, db, recorder, exchange, dead, sinks)


@pytest.fixture
async def h(amqp_url: str, tmp_path: Path, embedded_dsn: str) -> AsyncIterator[Harness]:
    async with harness(amqp_url, tmp_path, embedded_dsn) as found:
        yield found


@dataclasses.dataclass(frozen=True)
class Intruder:
    """A second RabbitMQ user, allowed to publish to the test exchanges."""

    user: str
    url: str


@pytest.fixture(scope="module")
def amqp_url(users_broker: UsersBroker) -> str:
    """This module makes a user (the intruder): its pair runs on the broker that may have it."""
    return users_broker.url


@pytest.fixture(scope="module")
def intruder(users_broker: UsersBroker) -> Iterator[Intruder]:
    user, password = f"chiffon-test-intruder-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    with users_broker.user(user, password, write=r"^chiffon-test-.*$"):
        yield Intruder(user, url_for(users_broker.url, user, password))


# Building and publishing messages by hand.


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def envelope(side: Side, **changes: Any) -> dict[str, Any]:
    """A well-formed envelope to ``side``'s actor, from a sender it accepts."""
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()), "kind": "run.finished", "v": 1, "sender": side.sender,
        "from": None, "reply_to": None, "to": side.actor, "correlation_id": None,
        "causation_id": None, "in_reply_to": None, "ask": False, "sent_at": now_ms(),
        "body": {"run_id": str(uuid.uuid4()), "status": "succeeded"},
    }  # fmt: skip
    fields.update(changes)
    return fields


def packet(*envelopes: dict[str, Any]) -> bytes:
    return json.dumps(list(envelopes), separators=(",", ":")).encode()


def signed(key: bytes, body: bytes, key_id: str = AGENT) -> dict[str, Any]:
    return {"x-chiffon-key": key_id, "x-chiffon-sig": sign(key, body)}


async def publish(
    exchange: AbstractExchange,
    side: Side,
    body: bytes,
    headers: dict[str, Any],
    *,
    user_id: str | None = "guest",
) -> str:
    """Publish ``body`` to ``side``'s routing key, mandatory and confirmed; its message id."""
    message_id = str(uuid.uuid4())
    message = aio_pika.Message(
        body, headers=headers, user_id=user_id, message_id=message_id,
        content_type="application/json",
    )  # fmt: skip
    await exchange.publish(message, side.route, mandatory=True)
    return message_id


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def assert_refused(
    h: Harness,
    side: Side,
    body: bytes,
    headers: dict[str, Any],
    *,
    code: str,
    reason: str,
    kind: str | None = "run.finished",
    sender: str | None = None,
    user_id: str | None = "guest",
    exchange: AbstractExchange | None = None,
) -> DeadLetterRecord:
    """Publish the bad message; then check that it is in the dead-letter queue with ``code``
    and a reason matching the regular expression ``reason``, that the audit recorded it, and
    that a good message after it still arrives."""
    message_id = await publish(exchange or h.exchange, side, body, headers, user_id=user_id)
    with anyio.fail_after(WAIT_S):
        dead = await h.dead_letter()
        record_id = await h.recorder.next_id()
        await h.good(side)
    dead_headers = {k: text(v) for k, v in (dead.headers or {}).items()}
    assert dead_headers["x-chiffon-dead-code"] == code
    assert re.fullmatch(reason, dead_headers["x-chiffon-dead-reason"]), dead_headers
    assert dead_headers["x-chiffon-dead-queue"] == side.queue
    assert dead_headers["x-chiffon-dead-routing-key"] == side.route
    assert dead.body == body

    record = await h.record(record_id, code)
    assert record.reason == dead_headers["x-chiffon-dead-reason"]
    assert (record.queue, record.routing_key, record.message_id) == (
        side.queue, side.route, message_id,
    )  # fmt: skip
    assert (record.kind, record.sender, record.user_id) == (
        kind, side.sender if sender is None and kind is not None else sender, user_id,
    )  # fmt: skip
    assert record.body == body[:BODY_KEPT]
    assert record.body_size == len(body)
    for name, value in headers.items():
        assert record.headers[name] == text(value)
    assert record.headers[REPORTED_BY] == "guest"  # the refusing side's login (both are guest)
    assert h.pair.orchestrator.statistics.dead_lettered + h.pair.agent.statistics.dead_lettered == 1
    return record


BOTH = pytest.mark.parametrize("side_name", ["agent", "orchestrator"])


# The cases.


@BOTH
async def test_an_unsigned_message_is_dead_lettered_as_unsigned(h: Harness, side_name: str) -> None:
    side = h.side(side_name)
    body = packet(envelope(side))
    await assert_refused(
        h, side, body, {}, code="unsigned",
        reason="the x-chiffon-sig and x-chiffon-key headers are required",
    )  # fmt: skip


@BOTH
async def test_a_message_signed_with_the_wrong_key_is_dead_lettered_as_forged(
    h: Harness, side_name: str
) -> None:
    side = h.side(side_name)
    body = packet(envelope(side))
    await assert_refused(
        h, side, body, signed(new_key(), body), code="forged",
        reason=f"the signature does not match {AGENT}'s key",
    )  # fmt: skip


async def test_a_valid_signature_by_one_agent_on_an_envelope_claiming_another_is_forged(
    h: Harness,
) -> None:
    save(create("agent-2", amqp_user="guest", orchestrator_users=("guest",)), h.pair.keys_dir)
    side = h.side("orchestrator")
    body = packet(envelope(side, sender="agent:agent-2"))
    await assert_refused(
        h, side, body, signed(h.key, body), code="forged", sender="agent:agent-2",
        reason=f"an envelope claims to be from 'agent:agent-2' under {AGENT}'s key",
    )  # fmt: skip


@BOTH
async def test_a_message_published_by_a_rabbitmq_user_other_than_the_keys_is_forged(
    h: Harness, side_name: str, intruder: Intruder
) -> None:
    side = h.side(side_name)
    body = packet(envelope(side))
    expected = (
        f"published by AMQP user '{intruder.user}', not an orchestrator's"
        if side_name == "agent"
        else f"signed with agent {AGENT}'s key but published by AMQP user '{intruder.user}', "
        "not 'guest'"
    )
    async with await aio_pika.connect(intruder.url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(h.pair.topology.exchange)
        await assert_refused(
            h, side, body, signed(h.key, body), code="forged", reason=re.escape(expected),
            user_id=intruder.user, exchange=exchange,
        )  # fmt: skip


async def test_an_execute_message_signed_by_the_agent_itself_is_refused_by_the_agent(
    h: Harness,
) -> None:
    """An agent runs only what an orchestrator signed: an execute message with every field
    right, signed with the agent's key but from ``agent:…``, is forged."""
    side = h.side("agent")
    step = execute().model_dump(mode="json")
    body = packet(envelope(side, kind="step.execute", v=2, sender=f"agent:{AGENT}", body=step))
    await assert_refused(
        h, side, body, signed(h.key, body), code="forged", kind="step.execute",
        sender=f"agent:{AGENT}", reason=f"an envelope claims to be from 'agent:{AGENT}'",
    )  # fmt: skip
    assert step["run_id"] not in {str(r) for r in h.sinks["agent"].seen}


@BOTH
async def test_a_message_signed_with_a_key_nobody_knows_is_dead_lettered_as_unknown_sender(
    h: Harness, side_name: str
) -> None:
    side = h.side(side_name)
    body = packet(envelope(side))
    expected = (
        "signed with 'stranger''s key, not this agent's"
        if side_name == "agent"
        else "no agent named 'stranger' is known here"
    )
    await assert_refused(
        h, side, body, signed(new_key(), body, key_id="stranger"), code="unknown_sender",
        reason=re.escape(expected),
    )  # fmt: skip


@BOTH
async def test_the_exact_bytes_of_a_delivered_message_published_again_are_replayed(
    h: Harness, side_name: str
) -> None:
    side = h.side(side_name)
    original = envelope(side)
    body = packet(original)
    bridge = h.pair.agent if side_name == "agent" else h.pair.orchestrator
    await publish(h.exchange, side, body, signed(h.key, body))
    with anyio.fail_after(WAIT_S):
        await h.sinks[side_name].wait_for(uuid.UUID(original["body"]["run_id"]))
        await watched(bridge).wait_processed(bridge.consumer_name, original["id"])
    await assert_refused(
        h, side, body, signed(h.key, body), code="replayed",
        reason=f"envelope {original['id']} was already processed",
    )  # fmt: skip
    assert h.sinks[side_name].seen.count(uuid.UUID(original["body"]["run_id"])) == 1


@BOTH
async def test_one_envelope_twice_in_one_message_is_replayed_and_delivers_nothing(
    h: Harness, side_name: str
) -> None:
    side = h.side(side_name)
    twice = envelope(side)
    body = packet(twice, twice)
    await assert_refused(
        h, side, body, signed(h.key, body), code="replayed",
        reason=f"envelope {twice['id']} appears twice in one message",
    )  # fmt: skip
    assert uuid.UUID(twice["body"]["run_id"]) not in h.sinks[side_name].seen


@pytest.mark.parametrize(
    ("side_name", "shift_ms"),
    [("agent", -2 * 86_400_000), ("orchestrator", -2 * 86_400_000), ("agent", 3_600_000)],
    ids=["agent-two-days-old", "orchestrator-two-days-old", "agent-an-hour-ahead"],
)
async def test_an_envelope_sent_outside_the_accepted_window_is_replayed(
    h: Harness, side_name: str, shift_ms: int
) -> None:
    side = h.side(side_name)
    stale = envelope(side, sent_at=now_ms() + shift_ms)
    body = packet(stale)
    await assert_refused(
        h, side, body, signed(h.key, body), code="replayed",
        reason=rf"envelope {stale['id']} was sent at {stale['sent_at']} ms, outside the "
        r"accepted window around \d+ ms",
    )  # fmt: skip


@BOTH
async def test_an_unknown_kind_is_dead_lettered_as_unknown_kind(h: Harness, side_name: str) -> None:
    side = h.side(side_name)
    body = packet(envelope(side, kind="step.explode"))
    await assert_refused(
        h, side, body, signed(h.key, body), code="unknown_kind", kind="step.explode",
        reason="unknown message kind 'step.explode'",
    )  # fmt: skip


@BOTH
async def test_a_known_kind_in_another_version_is_dead_lettered_as_wrong_version(
    h: Harness, side_name: str
) -> None:
    side = h.side(side_name)
    body = packet(envelope(side, v=2))
    await assert_refused(
        h, side, body, signed(h.key, body), code="wrong_version",
        reason=r"run\.finished is version 1 here; envelope 0 has v=2",
    )  # fmt: skip


@BOTH
async def test_a_message_over_one_mib_is_dead_lettered_as_oversize(
    h: Harness, side_name: str
) -> None:
    side = h.side(side_name)
    big = envelope(side)
    big["body"]["reason"] = "x" * MAX_BODY_BYTES
    body = packet(big)
    await assert_refused(
        h, side, body, signed(h.key, body), code="oversize", kind=None,
        reason=f"message is {len(body)} bytes; the limit is {MAX_BODY_BYTES}",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("side_name", "body", "reason"),
    [
        ("agent", {"run_id": 42, "status": "succeeded"}, r"run_id: UUID input should be .+"),
        ("orchestrator", {"run_id": str(uuid.uuid4())}, "status: Field required"),
    ],
    ids=["agent-a-field-of-the-wrong-type", "orchestrator-a-missing-field"],
)
async def test_an_invalid_body_is_dead_lettered_as_invalid_body_naming_the_field(
    h: Harness, side_name: str, body: dict[str, Any], reason: str
) -> None:
    side = h.side(side_name)
    raw = packet(envelope(side, body=body))
    await assert_refused(
        h, side, raw, signed(h.key, raw), code="invalid_body",
        reason=rf"envelope 0 \(run\.finished\): {reason}",
    )  # fmt: skip


@BOTH
async def test_bytes_that_are_not_json_are_dead_lettered_as_not_json(
    h: Harness, side_name: str
) -> None:
    side = h.side(side_name)
    body = b"\xff\xfe this is not JSON"
    await assert_refused(
        h, side, body, signed(h.key, body), code="not_json", kind=None,
        reason="message is not UTF-8 JSON: .+",
    )  # fmt: skip


async def test_json_that_is_not_an_array_of_envelopes_is_dead_lettered_as_not_a_frame(
    h: Harness,
) -> None:
    side = h.side("orchestrator")
    body = json.dumps(envelope(side)).encode()
    await assert_refused(
        h, side, body, signed(h.key, body), code="not_a_frame",
        reason="message must be a non-empty JSON array of envelopes",
    )  # fmt: skip


@BOTH
async def test_a_message_without_the_amqp_user_id_is_dead_lettered_as_unauthenticated(
    h: Harness, side_name: str
) -> None:
    side = h.side(side_name)
    body = packet(envelope(side))
    await assert_refused(
        h, side, body, signed(h.key, body), code="unauthenticated", user_id=None,
        reason="the AMQP user_id property is required",
    )  # fmt: skip


async def test_a_message_to_an_actor_that_is_not_there_is_dead_lettered_as_no_recipient(
    h: Harness,
) -> None:
    side = h.side("agent")
    body = packet(envelope(side, to="nobody"))
    await assert_refused(
        h, side, body, signed(h.key, body), code="no_recipient",
        reason="no actor named 'nobody' here",
    )  # fmt: skip


# What a hostile sender might also try: inputs that broke a check rather than failing it.


async def test_a_signature_header_with_non_ascii_characters_is_forged_not_a_crash(
    h: Harness,
) -> None:
    side = h.side("orchestrator")
    body = packet(envelope(side))
    headers = {"x-chiffon-key": AGENT, "x-chiffon-sig": "hmac-sha256=é" + "0" * 63}
    await assert_refused(
        h, side, body, headers, code="forged",
        reason=f"the signature does not match {AGENT}'s key",
    )  # fmt: skip


@BOTH
async def test_json_nested_too_deeply_to_decode_is_not_json_not_a_crash(
    h: Harness, side_name: str
) -> None:
    side = h.side(side_name)
    body = b"[" * 100_000 + b"]" * 100_000
    await assert_refused(
        h, side, body, signed(h.key, body), code="not_json", kind=None,
        reason="message is not UTF-8 JSON: .+",
    )  # fmt: skip


async def test_a_message_that_breaks_a_check_is_dead_lettered_as_unreadable(h: Harness) -> None:
    """Here the key it names has a malformed credentials file: the check raises, and the
    message is refused with the exception's sentence rather than left unacknowledged."""
    (h.pair.keys_dir / "broken.json").write_text("{not json")
    side = h.side("orchestrator")
    body = packet(envelope(side))
    await assert_refused(
        h, side, body, signed(new_key(), body, key_id="broken"), code="unreadable",
        reason=r"the message could not be checked: CredentialsError: agent credentials "
        r".+/broken\.json are unreadable: .+",
    )  # fmt: skip


async def test_a_kind_with_nul_characters_is_still_recorded_in_the_audit(h: Harness) -> None:
    """PostgreSQL refuses NUL in text: the refusal must still be recordable, or the audit
    consumer would retry it for ever."""
    side = h.side("agent")
    body = packet(envelope(side, kind="step\u0000explode\ud800"))
    record = await assert_refused(
        h, side, body, signed(h.key, body), code="unknown_kind", kind="step\ufffdexplode?",
        reason=r"unknown message kind 'step\\x00explode\\ud800'",
    )  # fmt: skip
    assert record.body == body


# A duplicate that the broker itself hands over again is normal, not an attack.


@BOTH
async def test_a_duplicate_the_broker_redelivers_is_dropped_quietly_not_dead_lettered(
    h: Harness, side_name: str, amqp_url: str
) -> None:
    """The message was processed (its id is in the inbox) but its ack never reached the
    broker: the consumer went away. The broker hands it over again, flagged redelivered, to
    the consumer's next incarnation, which acknowledges it without delivering it twice."""
    side = h.side(side_name)
    original = envelope(side)
    body = packet(original)
    run_id = uuid.UUID(original["body"]["run_id"])
    old = h.pair.agent if side_name == "agent" else h.pair.orchestrator
    await publish(h.exchange, side, body, signed(h.key, body))
    with anyio.fail_after(WAIT_S):
        await h.sinks[side_name].wait_for(run_id)
        await watched(old).wait_processed(old.consumer_name, original["id"])
    await old.aclose()

    # The same bytes again, taken by a consumer that goes away before acknowledging them:
    # the broker puts them back, flagged redelivered.
    await publish(h.exchange, side, body, signed(h.key, body))
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        queue = await channel.get_queue(side.queue)
        taken = await queue.get(no_ack=False)
        assert taken is not None
        assert taken.body == body
        assert not taken.redelivered

    again = Bridge(
        amqp_url, h.pair.agent_system if side_name == "agent" else h.pair.orchestrator_system,
        old.trust, old.inbox, orchestrator=side_name == "orchestrator",
        topology=h.pair.topology, record_dead_letter=h.recorder,
    )  # fmt: skip
    async with again:
        with anyio.fail_after(WAIT_S):
            await h.good(side)
        assert again.statistics.duplicates == 1
        assert again.statistics.dead_lettered == 0
    assert h.sinks[side_name].seen.count(run_id) == 1
    assert h.recorder.ids == []
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        dead = await channel.declare_queue(h.pair.topology.dead_letter_queue, passive=True)
        assert dead.declaration_result.message_count == 0
