"""Envelopes: time-ordered UUIDv7 ids, and the sender, correlation and causation a send from a
handler fills in by itself."""

from __future__ import annotations

import dataclasses
import itertools
import time
import uuid

import anyio
import pytest

from chiffon.actors import Actor, ActorSystem, Envelope, LocalRef, handler, id_to_uuid, new_id

from .support import WAIT_S, until


@dataclasses.dataclass
class Hop:
    n: int


class Greeting:
    kind = "greeting.v1"


class Relay(Actor):
    """Records the envelope of each ``Hop`` and passes the next hop on, if it has a next."""

    def __init__(self, seen: list[Envelope], next_ref: LocalRef | None = None) -> None:
        self.seen = seen
        self.next_ref = next_ref

    @handler
    async def hop(self, message: Hop) -> None:
        envelope = self.context.envelope
        assert envelope is not None
        self.seen.append(envelope)
        if self.next_ref is not None:
            await self.next_ref.tell(Hop(message.n + 1))

    @handler
    def greeting(self, message: Greeting) -> str:
        envelope = self.context.envelope
        assert envelope is not None
        self.seen.append(envelope)
        return envelope.kind


def test_ids_are_uuid_version_7_with_the_rfc_4122_variant() -> None:
    value = id_to_uuid(new_id())
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_ids_carry_the_millisecond_they_were_made_in() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= value >> 80 <= after


def test_ids_are_unique_and_strictly_increasing_within_a_process() -> None:
    ids = [new_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    assert all(a < b for a, b in itertools.pairwise(ids))


async def test_a_message_sent_from_outside_any_actor_has_no_sender_correlation_or_cause() -> None:
    seen: list[Envelope] = []
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(Relay, seen)
            await ref.ask(Greeting())
    [envelope] = seen
    assert envelope.recipient == ref
    assert (envelope.sender, envelope.correlation_id, envelope.causation_id) == (None, None, None)


async def test_sends_from_a_handler_name_their_sender_cause_and_inherited_correlation() -> None:
    seen: list[Envelope] = []
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            last = await system.spawn(Relay, seen, name="c")
            middle = await system.spawn(Relay, seen, last, name="b")
            first = await system.spawn(Relay, seen, middle, name="a")
            await first.tell(Hop(1))
            await until(lambda: len(seen) == 3)
    a, b, c = seen
    assert [e.body for e in seen] == [Hop(1), Hop(2), Hop(3)]
    assert [e.recipient for e in seen] == [first, middle, last]
    assert [e.sender for e in seen] == [None, first, middle]
    assert [e.causation_id for e in seen] == [None, a.id, b.id]
    assert [e.correlation_id for e in seen] == [None, a.id, a.id]
    assert a.id < b.id < c.id


async def test_an_explicit_sender_wins_over_the_one_filled_in() -> None:
    seen: list[Envelope] = []
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            someone = await system.spawn(Relay, [])
            ref = await system.spawn(Relay, seen)
            ref.tell_nowait(Greeting(), sender=someone)
            await ref.ask(Greeting())
    assert [e.sender for e in seen] == [someone, None]


async def test_an_ask_from_a_handler_tells_the_asked_actor_who_is_asking() -> None:
    @dataclasses.dataclass
    class WhoAsks:
        pass

    class Answerer(Actor):
        @handler(WhoAsks)
        def who(self, message: WhoAsks) -> object:
            return self.context.sender

    class Asker(Actor):
        def __init__(self, answerer: LocalRef) -> None:
            self.answerer = answerer

        @handler(Hop)
        async def ask_on(self, message: Hop) -> object:
            return await self.answerer.ask(WhoAsks())

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            answerer = await system.spawn(Answerer)
            asker = await system.spawn(Asker, answerer)
            assert await asker.ask(Hop(1)) == asker
            assert await answerer.ask(WhoAsks()) is None


async def test_the_kind_of_a_message_is_its_kind_attribute_or_its_class_name() -> None:
    seen: list[Envelope] = []
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(Relay, seen)
            assert await ref.ask(Greeting()) == "greeting.v1"
            await ref.tell(Hop(1))
            await ref.ask(Greeting())
    assert [e.kind for e in seen] == ["greeting.v1", "Hop", "greeting.v1"]


def test_ids_stay_unique_and_increasing_when_the_wall_clock_steps_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chiffon.actors import envelope

    now = [envelope._time_ns() + 10_000_000_000]  # ahead of anything made so far
    for state in ("_ms", "_prefix", "_next_in_ms"):  # restored afterwards, with the clock
        monkeypatch.setattr(envelope, state, getattr(envelope, state))
    monkeypatch.setattr(envelope, "_time_ns", lambda: now[0])
    ids = [envelope.new_id() for _ in range(3)]
    now[0] -= 5_000_000_000  # the clock steps back five seconds
    ids += [envelope.new_id() for _ in range(3)]
    now[0] += 10_000_000_000
    ids += [envelope.new_id() for _ in range(3)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
