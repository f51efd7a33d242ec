"""Envelope: the light record around every message, and its time-ordered id.

Hot path: an envelope is built for every ``tell``. A slotted class with a plain ``__init__``
costs about a third of a frozen dataclass, and the id is a 128-bit ``int`` laid out as a
UUIDv7 (RFC 9562) built from one clock read and a counter: ``uuid.uuid4()`` alone costs
more than the whole envelope here. ``Envelope.uuid`` gives the ``uuid.UUID`` when needed.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from typing import Any

from chiffon.actors.current import current_cell

# UUIDv7 layout: unix_ts_ms (48) | ver=7 (4) | rand_a (12) | var=0b10 (2) | rand_b (62).
# rand_a and the top 24 bits of rand_b are random per process; the low 38 bits of rand_b
# count the ids made in the current millisecond. So ids from one process are unique and
# strictly increasing, and two processes collide only if 36 random bits agree.
_PROCESS_BITS = int.from_bytes(os.urandom(5), "big") & ((1 << 36) - 1)
_FIXED_BITS = (
    (0x7 << 76) | ((_PROCESS_BITS >> 24) << 64) | (0b10 << 62) | ((_PROCESS_BITS & 0xFFFFFF) << 38)
)
_time_ns = time.time_ns
# The current millisecond, its id prefix, and the counter of ids made in it: rewritten once
# per millisecond, so the common case is a clock read, a compare and one OR.
_ms = -1
_prefix = 0
_next_in_ms = itertools.count().__next__


def new_id() -> int:
    """A new UUIDv7 as an ``int``: time-ordered, unique across processes.

    If the wall clock steps back, ids keep the last millisecond seen (and its counter), so
    they stay unique and increasing.
    """
    global _ms, _prefix, _next_in_ms
    ms = _time_ns() // 1_000_000
    if ms > _ms:
        _ms = ms
        _prefix = (ms << 80) | _FIXED_BITS
        _next_in_ms = itertools.count().__next__
    return _prefix | _next_in_ms()


def id_to_uuid(value: int) -> uuid.UUID:
    """The ``uuid.UUID`` of an envelope id."""
    return uuid.UUID(int=value)


class Envelope:
    """One message in flight: who sent it to whom, why, and when. Treated as immutable.

    ``sender`` and ``recipient`` are refs (anything with an ``address``); ``correlation_id``
    ties together every message of one piece of work and ``causation_id`` names the message
    whose handling sent this one. ``reply`` is set on asks and is where the answer goes.
    ``created_at`` is read from the id, which saves a second clock read per message.
    """

    __slots__ = (
        "body",
        "causation_id",
        "correlation_id",
        "id",
        "kind",
        "recipient",
        "reply",
        "sender",
    )

    def __init__(
        self,
        id: int,
        kind: str,
        body: Any,
        recipient: Any,
        sender: Any = None,
        correlation_id: int | None = None,
        causation_id: int | None = None,
        reply: Any = None,
    ) -> None:
        self.id = id
        self.kind = kind
        self.body = body
        self.recipient = recipient
        self.sender = sender
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.reply = reply

    @property
    def created_at(self) -> float:
        """Unix time the envelope was made, read from its id (millisecond precision)."""
        return (self.id >> 80) / 1000.0

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.id)

    def __repr__(self) -> str:
        return f"Envelope(id={self.uuid}, kind={self.kind!r}, recipient={self.recipient!r})"


_kinds: dict[type, str] = {}


def kind_of(cls: type) -> str:
    """A message class's kind: its ``kind`` class attribute when it is a string, else its name."""
    try:
        return _kinds[cls]
    except KeyError:
        declared = getattr(cls, "kind", None)
        kind = declared if isinstance(declared, str) else cls.__qualname__
        _kinds[cls] = kind
        return kind


def outgoing(recipient: Any, message: Any, sender: Any = None, reply: Any = None) -> Envelope:
    """The envelope of a send of ``message`` to ``recipient``, built as every ref builds it:
    sent from inside a handler, it is from the current actor unless ``sender`` says
    otherwise, and it carries on the handled message's correlation (that message is its
    cause). Public for adapters whose refs send elsewhere (the bridge's remote refs)."""
    cls = type(message)
    kind = _kinds.get(cls) or kind_of(cls)
    current = current_cell.get()
    if current is not None:
        if sender is None:
            sender = current.ref
        cause = current.current
        if cause is not None:
            return Envelope(
                new_id(), kind, message, recipient, sender,
                cause.correlation_id or cause.id, cause.id, reply,
            )  # fmt: skip
    return Envelope(new_id(), kind, message, recipient, sender, None, None, reply)
