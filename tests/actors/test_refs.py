"""ActorRef: tell, tell_nowait, ask, backpressure, and what a stopped actor answers."""

from __future__ import annotations

import anyio
import pytest

from chiffon.actors import (
    Actor,
    ActorStopped,
    ActorSystem,
    AskTimeout,
    MailboxFull,
    MailboxStatistics,
    handler,
)
from chiffon.actors.testing import Probe

from .support import WAIT_S, Gate, Hold, Note, settle, until


async def test_tell_delivers_messages_in_the_order_they_were_sent() -> None:
    probe = Probe()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(lambda: probe)
            for n in range(5):
                await ref.tell(n)
            assert await probe.expect(5) == [0, 1, 2, 3, 4]


async def test_a_fresh_mailbox_reports_its_capacity_and_nothing_else() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem(mailbox_capacity=7) as system:
            ref = await system.spawn(Gate)
            assert ref.statistics() == MailboxStatistics(
                capacity=7, depth=0, high_water=0, received=0, processed=0, waiting_senders=0
            )


async def test_tell_nowait_raises_mailbox_full_when_the_mailbox_is_at_capacity() -> None:
    gate, release = Gate(), anyio.Event()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(lambda: gate, name="gate", capacity=2)
            ref.tell_nowait(Hold(release))
            await gate.holding.wait()  # the Hold is out of the mailbox, in the handler
            ref.tell_nowait(Note("a"))
            ref.tell_nowait(Note("b"))
            with pytest.raises(
                MailboxFull, match=r"mailbox of chiffon://chiffon/gate is full \(2 messages\)"
            ):
                ref.tell_nowait(Note("c"))
            assert ref.statistics().depth == 2
            release.set()
            assert await ref.ask(Note("d")) == "d"
            assert gate.notes == ["a", "b", "d"]


async def test_tell_waits_while_the_mailbox_is_full_and_sends_once_the_actor_takes_one() -> None:
    gate, release = Gate(), anyio.Event()
    sent: list[str] = []

    async def send(text: str) -> None:
        await ref.tell(Note(text))
        sent.append(text)

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(lambda: gate, capacity=1)
            await ref.tell(Hold(release))
            await gate.holding.wait()
            await ref.tell(Note("queued"))
            async with anyio.create_task_group() as tg:
                tg.start_soon(send, "blocked")
                await until(lambda: ref.statistics().waiting_senders == 1)
                stats = ref.statistics()
                assert (stats.depth, stats.received, stats.processed) == (1, 2, 1)
                assert sent == []  # the sender is still blocked: backpressure
                release.set()
            assert sent == ["blocked"]
            assert await ref.ask(Note("last")) == "last"
            assert gate.notes == ["queued", "blocked", "last"]
            assert ref.statistics() == MailboxStatistics(
                capacity=1, depth=0, high_water=1, received=4, processed=4, waiting_senders=0
            )


async def test_statistics_count_what_was_received_processed_and_the_high_water_mark() -> None:
    gate, release = Gate(), anyio.Event()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(lambda: gate, capacity=10)
            ref.tell_nowait(Hold(release))
            await gate.holding.wait()
            for text in "abcd":
                ref.tell_nowait(Note(text))
            stats = ref.statistics()
            assert (stats.depth, stats.high_water, stats.received, stats.processed) == (4, 4, 5, 1)
            release.set()
            await ref.ask(Note("e"))  # queued behind a-d: the actor has not run since
            stats = ref.statistics()
            assert (stats.depth, stats.high_water, stats.received, stats.processed) == (0, 5, 6, 6)


async def test_ask_raises_ask_timeout_naming_the_actor_the_message_and_the_timeout() -> None:
    gate, release = Gate(), anyio.Event()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(lambda: gate, name="slow")
            with pytest.raises(
                AskTimeout, match=r"chiffon://chiffon/slow did not answer Hold within 0\.05 s"
            ) as info:
                await ref.ask(Hold(release), timeout=0.05)
            assert isinstance(info.value, TimeoutError)
            release.set()
            assert await ref.ask(Note("still here")) == "still here"


async def test_an_ask_waiting_for_room_in_a_full_mailbox_times_out_all_the_same() -> None:
    gate, release = Gate(), anyio.Event()
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(lambda: gate, name="full", capacity=1)
            ref.tell_nowait(Hold(release))
            await gate.holding.wait()
            ref.tell_nowait(Note("queued"))
            with pytest.raises(
                AskTimeout, match=r"chiffon://chiffon/full did not answer Note within 0\.05 s"
            ):
                await ref.ask(Note("no room"), timeout=0.05)
            assert ref.statistics().waiting_senders == 0
            release.set()
            assert await ref.ask(Note("later")) == "later"
            assert gate.notes == ["queued", "later"]  # the timed-out ask was never delivered


async def test_a_handler_s_own_timeout_error_reaches_the_asker_unchanged() -> None:
    class Impatient(Actor):
        @handler
        def note(self, message: Note) -> None:
            raise TimeoutError("the upstream did not answer")

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(Impatient, capacity=1)
            with pytest.raises(TimeoutError, match="the upstream did not answer"):
                await ref.ask(Note("fast path"))
            ref.tell_nowait(Note("fills the mailbox"))
            with pytest.raises(TimeoutError, match="the upstream did not answer") as info:
                await ref.ask(Note("slow path"))  # waits for room first
            assert not isinstance(info.value, AskTimeout)


async def test_ask_to_a_stopped_actor_raises_actor_stopped() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(Gate, name="gone")
            await ref.stop()
            assert not ref.is_alive
            with pytest.raises(ActorStopped, match=r"actor chiffon://chiffon/gone has stopped"):
                await ref.ask(Note("anyone?"))


async def test_tell_and_tell_nowait_to_a_stopped_actor_raise_actor_stopped() -> None:
    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(Gate, name="gone")
            await system.stop(ref)
            with pytest.raises(ActorStopped, match=r"actor chiffon://chiffon/gone has stopped"):
                await ref.tell(Note("anyone?"))
            with pytest.raises(ActorStopped, match=r"actor chiffon://chiffon/gone has stopped"):
                ref.tell_nowait(Note("anyone?"))


async def test_an_ask_still_queued_when_the_actor_stops_fails_with_actor_stopped() -> None:
    gate, release = Gate(), anyio.Event()
    outcome: list[BaseException] = []

    async def ask_note() -> None:
        try:
            await ref.ask(Note("too late"))
        except ActorStopped as exc:
            outcome.append(exc)

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(lambda: gate, name="closing")
            ref.tell_nowait(Hold(release))
            await gate.holding.wait()
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask_note)
                await until(lambda: ref.statistics().depth == 1)
                tg.start_soon(ref.stop)
                await settle()  # the stop is requested; the actor is still in its handler
                assert ref.is_alive
                release.set()
            assert not ref.is_alive
            assert gate.notes == []
            assert [str(exc) for exc in outcome] == [
                "actor chiffon://chiffon/closing has stopped: before handling this message"
            ]


async def test_a_sender_blocked_on_a_full_mailbox_gets_actor_stopped_when_the_actor_stops() -> None:
    gate, release = Gate(), anyio.Event()
    outcome: list[BaseException] = []

    async def send() -> None:
        try:
            await ref.tell(Note("blocked"))
        except ActorStopped as exc:
            outcome.append(exc)

    with anyio.fail_after(WAIT_S):
        async with ActorSystem() as system:
            ref = await system.spawn(lambda: gate, name="full", capacity=1)
            ref.tell_nowait(Hold(release, then_stop=True))
            await gate.holding.wait()
            ref.tell_nowait(Note("queued"))
            async with anyio.create_task_group() as tg:
                tg.start_soon(send)
                await until(lambda: ref.statistics().waiting_senders == 1)
                release.set()
            assert not ref.is_alive
            assert gate.notes == []
            assert [str(exc) for exc in outcome] == ["actor chiffon://chiffon/full has stopped"]
