"""The runtime with an ``InMemoryJournal``: what is journaled, when, and what is refused."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import anyio
import pytest

from chiffon.actors import (
    Actor,
    ActorStopped,
    ActorSystem,
    Durability,
    InMemoryJournal,
    LocalRef,
    MailboxFull,
    StoredMessage,
    SyncSendNeedsAwait,
    UnencodableBody,
    handler,
)

from .support import WAIT_S, Gate, Hold


@dataclasses.dataclass
class Command:
    durability: ClassVar[Durability] = Durability.SYNC
    action: str
    payload: Any = None


@dataclasses.dataclass
class Heartbeat:
    durability: ClassVar[Durability] = Durability.ASYNC
    beat: int
    payload: Any = None


@dataclasses.dataclass
class Chatter:
    durability: ClassVar[Durability] = Durability.TRANSIENT
    text: str


@dataclasses.dataclass
class Plain:
    """Says nothing of its durability: gets the system's default."""

    text: str


@dataclasses.dataclass
class Forward:
    durability: ClassVar[Durability] = Durability.TRANSIENT  # a ref has no JSON form
    to: LocalRef
    command: Command


class Clerk(Actor):
    """Answers every message with what the journal held when the handler first saw it."""

    def __init__(self, journal: InMemoryJournal) -> None:
        self.journal = journal
        self.seen: list[int] = []
        """The ids of the envelopes handled."""

    async def _lookup(self, message: object) -> tuple[int, StoredMessage | None]:
        envelope = self.context.envelope
        assert envelope is not None
        self.seen.append(envelope.id)
        return envelope.id, await self.journal.message(envelope.id)

    @handler
    async def command(self, message: Command) -> tuple[int, StoredMessage | None]:
        return await self._lookup(message)

    @handler
    async def heartbeat(self, message: Heartbeat) -> tuple[int, StoredMessage | None]:
        return await self._lookup(message)

    @handler
    async def chatter(self, message: Chatter) -> tuple[int, StoredMessage | None]:
        return await self._lookup(message)

    @handler
    async def plain(self, message: Plain) -> tuple[int, StoredMessage | None]:
        return await self._lookup(message)

    @handler
    async def forward(self, message: Forward) -> tuple[int, StoredMessage | None]:
        envelope = self.context.envelope
        assert envelope is not None
        _, stored = await message.to.ask(message.command)
        return envelope.id, stored


async def test_a_sync_message_is_in_the_journal_before_the_actor_sees_it() -> None:
    journal = InMemoryJournal()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(journal=journal) as system:
            clerk = await system.spawn(Clerk, journal, name="clerk")
            message_id, stored = await clerk.ask(Command("deploy", {"hosts": ["a", "b"]}))
    assert stored == StoredMessage(
        id=message_id,
        kind="Command",
        sender=None,
        recipient="chiffon://chiffon/clerk",
        correlation_id=None,
        causation_id=None,
        created_at=stored.created_at,
        body={"action": "deploy", "payload": {"hosts": ["a", "b"]}},
    )


async def test_a_sync_tell_is_committed_before_it_is_delivered() -> None:
    journal = InMemoryJournal()
    outcomes: list[tuple[int, StoredMessage | None]] = []

    class Recorder(Clerk):
        @handler
        async def command(self, message: Command) -> tuple[int, StoredMessage | None]:
            outcomes.append(await self._lookup(message))
            return outcomes[-1]

    with anyio.fail_after(WAIT_S):
        async with ActorSystem(journal=journal) as system:
            recorder = await system.spawn(Recorder, journal)
            await recorder.tell(Command("restart"))
            await recorder.ask(Chatter("done?"))  # handled after the Command
    [(message_id, stored)] = outcomes
    assert stored is not None
    assert (stored.id, stored.kind) == (message_id, "Command")


async def test_a_journaled_message_sent_from_a_handler_records_its_sender_and_causes() -> None:
    journal = InMemoryJournal()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(journal=journal) as system:
            first = await system.spawn(Clerk, journal, name="first")
            second = await system.spawn(Clerk, journal, name="second")
            forward_id, stored = await first.ask(Forward(second, Command("check")))
    assert stored is not None
    assert stored.sender == "chiffon://chiffon/first"
    assert stored.recipient == "chiffon://chiffon/second"
    assert stored.causation_id == forward_id
    assert stored.correlation_id == forward_id  # the Forward started this piece of work


async def test_an_async_message_is_journaled_too() -> None:
    journal = InMemoryJournal()
    clerk_instance = Clerk(journal)
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(journal=journal) as system:
            clerk = await system.spawn(lambda: clerk_instance)
            clerk.tell_nowait(Heartbeat(1))
            await clerk.ask(Heartbeat(2))
    await journal.flush()
    stored = [await journal.message(message_id) for message_id in clerk_instance.seen]
    assert [(m.kind, m.body) for m in stored if m is not None] == [
        ("Heartbeat", {"beat": 1, "payload": None}),
        ("Heartbeat", {"beat": 2, "payload": None}),
    ]


async def test_a_transient_message_is_not_journaled() -> None:
    journal = InMemoryJournal()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(journal=journal) as system:
            clerk = await system.spawn(Clerk, journal)
            message_id, stored = await clerk.ask(Chatter("hello"))
    assert stored is None
    assert await journal.message(message_id) is None


async def test_a_message_class_that_says_nothing_gets_the_systems_default_durability() -> None:
    async def journaled(default: Durability) -> bool:
        journal = InMemoryJournal()
        async with ActorSystem(journal=journal, default_durability=default) as system:
            clerk = await system.spawn(Clerk, journal)
            message_id, _ = await clerk.ask(Plain("hi"))
        return await journal.message(message_id) is not None

    with anyio.fail_after(WAIT_S):
        assert await journaled(Durability.ASYNC)
        assert await journaled(Durability.SYNC)
        assert not await journaled(Durability.TRANSIENT)


async def test_tell_nowait_of_a_sync_kind_is_refused_and_nothing_is_delivered() -> None:
    journal = _CountingJournal()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(journal=journal) as system:
            clerk = await system.spawn(Clerk, journal)
            with pytest.raises(
                SyncSendNeedsAwait,
                match=(
                    r"Command is journaled with sync durability: "
                    r"use `await tell`, not tell_nowait"
                ),
            ):
                clerk.tell_nowait(Command("deploy"))
            assert clerk.statistics().received == 0
    assert journal.records == 0


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda ref: ref.tell(Command("deploy", object())), id="sync tell"),
        pytest.param(lambda ref: ref.ask(Command("deploy", object())), id="sync ask"),
        pytest.param(lambda ref: ref.tell(Heartbeat(1, object())), id="async tell"),
        pytest.param(lambda ref: ref.ask(Heartbeat(1, object())), id="async ask"),
    ],
)
async def test_an_unencodable_body_of_a_journaled_kind_fails_at_send_and_is_not_delivered(
    send: Any,
) -> None:
    journal = _CountingJournal()
    clerk_instance = Clerk(journal)
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(journal=journal) as system:
            clerk = await system.spawn(lambda: clerk_instance)
            with pytest.raises(
                UnencodableBody,
                match=(
                    r"body of (Command|Heartbeat) cannot be journaled: "
                    r"object is not JSON-serialisable"
                ),
            ):
                await send(clerk)
            assert clerk.statistics().received == 0
    assert clerk_instance.seen == []
    assert journal.records == 0


async def test_tell_nowait_of_an_unencodable_async_body_fails_and_is_not_delivered() -> None:
    journal = InMemoryJournal()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(journal=journal) as system:
            clerk = await system.spawn(Clerk, journal)
            with pytest.raises(UnencodableBody, match=r"body of Heartbeat cannot be journaled"):
                clerk.tell_nowait(Heartbeat(1, object()))
            assert clerk.statistics().received == 0


async def test_tell_nowait_refused_by_a_full_or_closed_mailbox_leaves_no_record() -> None:
    journal = _CountingJournal()
    gate, release = Gate(), anyio.Event()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(journal=journal, default_durability=Durability.TRANSIENT) as system:
            ref = await system.spawn(lambda: gate, capacity=1)
            ref.tell_nowait(Hold(release, then_stop=True))
            await gate.holding.wait()
            ref.tell_nowait(Chatter("fills the mailbox"))
            with pytest.raises(MailboxFull):
                ref.tell_nowait(Heartbeat(1))
            release.set()
            await ref.stop()
            with pytest.raises(ActorStopped):
                ref.tell_nowait(Heartbeat(2))
    assert journal.records == 0


class _CountingJournal(InMemoryJournal):
    """Counts the records the journal accepted, through the port's own methods."""

    def __init__(self) -> None:
        super().__init__()
        self.records = 0

    async def append(self, envelope: Any, transitions: Any = ()) -> None:
        await super().append(envelope, transitions)
        self.records += 1

    def append_nowait(self, envelope: Any) -> None:
        super().append_nowait(envelope)
        self.records += 1


async def test_a_journaled_send_to_a_stopped_actor_is_refused_and_leaves_no_record() -> None:
    journal = _CountingJournal()
    async with ActorSystem(journal=journal) as system:
        ref = await system.spawn(_Quiet)
        await ref.stop()
        for send in (ref.tell, ref.ask):
            with pytest.raises(ActorStopped, match="has stopped"):
                await send(_Recorded(1))
        with pytest.raises(ActorStopped, match="has stopped"):
            ref.tell_nowait(_Recorded(2))
    assert journal.records == 0


class _Recorded:
    durability = Durability.SYNC

    def __init__(self, n: int) -> None:
        self.n = n


@dataclasses.dataclass
class _Introduce:
    durability = Durability.SYNC
    ref: LocalRef


class _Quiet(Actor):
    @handler(_Recorded)
    def recorded(self, message: _Recorded) -> None:
        pass

    @handler(_Introduce)
    def introduce(self, message: _Introduce) -> int:
        envelope = self.context.envelope
        assert envelope is not None
        return envelope.id


async def test_a_ref_inside_a_journaled_body_is_recorded_as_its_address() -> None:
    journal = InMemoryJournal()
    async with ActorSystem(journal=journal) as system:
        clerk = await system.spawn(_Quiet)
        envelope = await clerk.ask(_Introduce(clerk))
    stored = await journal.message(envelope)
    assert stored is not None
    assert stored.body == {"ref": {"ref": clerk.address}}
