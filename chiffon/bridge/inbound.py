"""What an incoming AMQP message must pass before any envelope of it is delivered.

Pure: a function of the message's bytes, its ``user_id`` and headers, the process's
``Trust``, which actor names exist here and the time, so every refusal is tested without a
broker (``tests/bridge/test_inbound.py``). In this order, each failure a ``Refused`` with its
reason: size (``oversize``), the ``user_id`` the broker vouches for (``unauthenticated``),
the signature headers (``unsigned``), the key they name (``unknown_sender``), the HMAC over
the exact bytes (``forged``), the envelopes (``not_json``, ``not_a_frame``, ``unknown_kind``,
``wrong_version``, ``invalid_body``), their senders against key and user, an agent's reply
address against its own queue, and the agent a body names against the key (``forged``), the
recipient (``no_recipient``), an id twice in one message or a time outside the accepted
window (``replayed``). A check that breaks on the input with an unexpected exception refuses
it as ``unreadable``, naming the exception.

What needs storage — whether an id was already processed — is the bridge's (its inbox).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chiffon.bridge.errors import Refused
from chiffon.protocol import DecodeError
from chiffon.protocol.signing import verify
from chiffon.protocol.wire import MAX_BODY_BYTES, WireEnvelope, decode_packet

if TYPE_CHECKING:
    from chiffon.bridge.trust import Trust


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """When an envelope may have been sent, relative to now: at most ``max_age_ms`` ago and
    at most ``skew_ms`` ahead (the sender's clock may run fast)."""

    max_age_ms: int
    skew_ms: int


def check(
    body: bytes,
    user_id: str | None,
    headers: Mapping[str, Any] | None,
    *,
    trust: Trust,
    has_actor: Callable[[str], bool],
    now_ms: int,
    window: Window,
) -> list[WireEnvelope]:
    """The envelopes of a message that passes every check (see the module docstring), in
    order. Raises ``Refused``; ``OSError`` as it is (the disk, not the message: the bridge
    requeues it)."""
    try:
        return _check(body, user_id, headers or {}, trust, has_actor, now_ms, window)
    except (Refused, OSError):
        raise
    except Exception as exc:
        # A check that breaks on some input must not leave the message unacknowledged for
        # ever: the input is refused, and the audit shows the break.
        raise Refused(
            "unreadable", f"the message could not be checked: {type(exc).__name__}: {exc}"
        ) from None


def _check(
    body: bytes,
    user_id: str | None,
    headers: Mapping[str, Any],
    trust: Trust,
    has_actor: Callable[[str], bool],
    now_ms: int,
    window: Window,
) -> list[WireEnvelope]:
    if len(body) > MAX_BODY_BYTES:
        raise Refused("oversize", f"message is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    if not user_id:
        raise Refused("unauthenticated", "the AMQP user_id property is required")
    signature, key_id = headers.get("x-chiffon-sig"), headers.get("x-chiffon-key")
    if isinstance(key_id, bytes):
        key_id = key_id.decode(errors="replace")
    if isinstance(signature, bytes):
        signature = signature.decode(errors="replace")
    if not signature or not isinstance(key_id, str) or not key_id:
        raise Refused("unsigned", "the x-chiffon-sig and x-chiffon-key headers are required")
    key = trust.incoming_key(key_id, user_id, ())
    if not verify(key, body, signature):
        raise Refused("forged", f"the signature does not match {key_id}'s key")
    try:
        envelopes = decode_packet(body)
    except DecodeError as exc:
        raise Refused(exc.code, str(exc)) from None
    trust.incoming_key(key_id, user_id, [e.sender for e in envelopes])
    own_route = trust.reply_route(key_id)
    for envelope in envelopes:
        if own_route is not None and envelope.reply_to not in (None, own_route):
            raise Refused(
                "forged",
                f"agent {key_id} gave {envelope.reply_to!r} as its reply address, not its own "
                f"queue's {own_route!r}",
            )
        # An agent speaks for itself only: a body naming an agent (announce, heartbeat,
        # goodbye, offers, reports) must name the one whose key signed it.
        named = envelope.body.__dict__.get("name")  # a field, if the kind has one
        if envelope.sender.startswith("agent:") and named is not None and named != key_id:
            raise Refused(
                "forged", f"agent {key_id} sent a {envelope.kind} in the name of {named!r}"
            )
        if envelope.in_reply_to is None and not has_actor(envelope.to):
            raise Refused("no_recipient", f"no actor named {envelope.to!r} here")
    if len(envelopes) > 1 and len({e.id for e in envelopes}) < len(envelopes):
        # A publisher batches distinct sends; the same envelope twice is someone's copy.
        ids = [e.id for e in envelopes]
        twice = next(i for n, i in enumerate(ids) if i in ids[:n])
        raise Refused("replayed", f"envelope {twice} appears twice in one message")
    for envelope in envelopes:
        if not now_ms - window.max_age_ms <= envelope.sent_at <= now_ms + window.skew_ms:
            raise Refused(
                "replayed",
                f"envelope {envelope.id} was sent at {envelope.sent_at} ms, outside the "
                f"accepted window around {now_ms} ms",
            )
    return envelopes
