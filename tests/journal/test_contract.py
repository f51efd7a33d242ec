"""The Journal contract: the same tests for every implementation (see conftest.journal)."""

from __future__ import annotations

import dataclasses
import enum
import uuid

import anyio
import pytest

from chiffon.actors.envelope import Envelope, new_id
from chiffon.actors.errors import DuplicateTransition, JournalClosed, UnencodableBody
from chiffon.actors.journal import Transition
from tests.journal.conftest import OpenJournal


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Greeting:
    text: str
    colour: Colour
    ref: uuid.UUID


class Ref:
    def __init__(self, address: str) -> None:
        self.address = address


def envelope(kind: str = "greeting", body: object = None, **kwargs: object) -> Envelope:
    return Envelope(
        new_id(),
        kind,
        {"hello": "wörld", "n": [1, 2.5, None, True]} if body is None else body,
        Ref("test/recipient"),
        **kwargs,  # type: ignore[arg-type]
    )


def entity() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


async def test_an_appended_message_reads_back_with_ids_correlation_and_body(
    open_journal: OpenJournal,
) -> None:
    async with open_journal() as journal:
        correlation, cause = new_id(), new_id()
        body = Greeting("hi", Colour.RED, uuid.UUID(int=7))
        sent = envelope(
            body=body, sender=Ref("test/sender"), correlation_id=correlation, causation_id=cause
        )
        with anyio.fail_after(10):
            await journal.append(sent)
        stored = await journal.message(sent.id)
        assert stored is not None
        assert (stored.id, stored.kind, stored.sender, stored.recipient) == (
            sent.id,
            "greeting",
            "test/sender",
            "test/recipient",
        )
        assert (stored.correlation_id, stored.causation_id) == (correlation, cause)
        assert stored.body == {"text": "hi", "colour": "red", "ref": str(uuid.UUID(int=7))}
        assert stored.created_at == pytest.approx(sent.created_at, abs=0.001)


async def test_an_unknown_id_reads_back_as_none(open_journal: OpenJournal) -> None:
    async with open_journal() as journal:
        assert await journal.message(new_id()) is None


async def test_transitions_commit_with_their_message_and_read_back_in_order(
    open_journal: OpenJournal,
) -> None:
    async with open_journal() as journal:
        run = entity()
        first, second = envelope("run.planned"), envelope("run.approved")
        with anyio.fail_after(10):
            await journal.append(
                first,
                [
                    Transition("run", run, 1, None, "received", message_id=first.id),
                    Transition("run", run, 2, "received", "planning", "planner", first.id),
                ],
            )
            await journal.append(
                second, [Transition("run", run, 3, "planning", "approved", message_id=second.id)]
            )
        found = await journal.transitions("run", run)
        assert [(t.seq, t.from_state, t.to_state) for t in found] == [
            (1, None, "received"),
            (2, "received", "planning"),
            (3, "planning", "approved"),
        ]
        assert [t.message_id for t in found] == [first.id, first.id, second.id]
        assert found[1].reason == "planner"
        assert await journal.message(first.id) is not None
        assert await journal.transitions("run", entity()) == []


async def test_a_second_writer_of_the_same_sequence_gets_duplicate_transition(
    open_journal: OpenJournal,
) -> None:
    async with open_journal() as journal:
        run = entity()
        winner, loser = envelope("run.started"), envelope("run.started")
        with anyio.fail_after(10):
            await journal.append(winner, [Transition("run", run, 1, None, "running")])
            with pytest.raises(DuplicateTransition, match=f"transition 1 of run {run}"):
                await journal.append(loser, [Transition("run", run, 1, None, "failed")])
        assert [t.to_state for t in await journal.transitions("run", run)] == ["running"]
        assert await journal.message(loser.id) is None


async def test_mark_processed_is_true_once_then_false(open_journal: OpenJournal) -> None:
    async with open_journal() as journal:
        message_id = new_id()
        assert await journal.mark_processed("consumer-a", message_id) is True
        assert await journal.mark_processed("consumer-a", message_id) is False
        assert await journal.mark_processed("consumer-b", message_id) is True


async def test_append_nowait_is_committed_by_flush(open_journal: OpenJournal) -> None:
    async with open_journal() as journal:
        sent = [envelope("heartbeat", {"beat": i}) for i in range(50)]
        for item in sent:
            journal.append_nowait(item)
        with anyio.fail_after(10):
            await journal.flush()
        for item in sent:
            stored = await journal.message(item.id)
            assert stored is not None
            assert stored.body == item.body


async def test_an_unencodable_body_fails_at_append_naming_the_kind(
    open_journal: OpenJournal,
) -> None:
    async with open_journal() as journal:
        with pytest.raises(UnencodableBody, match=r"body of secret\.kind cannot be journaled"):
            await journal.append(envelope("secret.kind", {"x": object()}))
        with pytest.raises(UnencodableBody, match=r"body of other\.kind"):
            journal.append_nowait(envelope("other.kind", {1, object()}))


async def test_a_closed_journal_raises_journal_closed(open_journal: OpenJournal) -> None:
    async with open_journal() as journal:
        await journal.aclose()
        with pytest.raises(JournalClosed):
            await journal.append(envelope())
        with pytest.raises(JournalClosed):
            journal.append_nowait(envelope())
        with pytest.raises(JournalClosed):
            await journal.mark_processed("consumer", new_id())
        await journal.aclose()  # idempotent
