"""Refused messages: kept in the dead-letter queue with their reason, and recorded.

A consumer never crashes on a bad message and never drops it silently: it publishes the
original bytes to the ``chiffon.dead-letter`` exchange with the reason in headers
(``x-chiffon-dead-code``, ``x-chiffon-dead-reason``, ``x-chiffon-dead-queue``,
``x-chiffon-dead-user``), then acknowledges the original. The exchange fans out to
``chiffon.dead-letters`` (for people) and ``chiffon.dead-letters.audit``, which an orchestrator
consumes to record each refusal (agents have no database).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

BODY_KEPT = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused message, as the audit records it."""

    queue: str
    code: str
    reason: str
    message_id: str | None
    kind: str | None
    sender: str | None
    user_id: str | None
    routing_key: str | None
    headers: dict[str, Any]
    body: bytes
    body_size: int
    reported_by: str | None = None
    """Who refused it, as the broker vouches (see ``reporter``)."""


def peek(body: bytes) -> tuple[str | None, str | None]:
    """The first envelope's kind and sender, when the body is readable enough to tell."""
    if len(body) > 1024 * 1024:
        return None, None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, None
    first = data[0] if isinstance(data, list) and data else data
    if not isinstance(first, dict):
        return None, None
    kind, sender = first.get("kind"), first.get("sender")
    return (
        kind[:200] if isinstance(kind, str) else None,
        sender[:300] if isinstance(sender, str) else None,
    )


def plain_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    """AMQP headers as JSON-safe values (bytes decoded, the rest as text)."""
    out: dict[str, Any] = {}
    for key, value in (headers or {}).items():
        if isinstance(value, bytes):
            out[key] = value.decode(errors="replace")
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        else:
            out[key] = str(value)
    return out


REPORTED_BY = "x-chiffon-dead-reported-by"
"""The header, in a recorded dead letter's headers, naming the RabbitMQ user that published
the dead letter (the process that refused the message)."""


def reporter(user_id: str | None, orchestrator_user: str, agent: str | None) -> str:
    """Who refused a dead letter published by AMQP user ``user_id`` (which the broker checks
    against the publisher's login whenever it is set; ``agent`` is the agent that login is
    an agent's): ``orchestrator``, ``agent:<name>``, ``user:<login>`` for a login of no agent
    known here, ``unverified`` when it is unset."""
    if not user_id:
        return "unverified"
    if user_id == orchestrator_user:
        return "orchestrator"
    return f"agent:{agent}" if agent is not None else f"user:{user_id}"


def from_headers(
    body: bytes, headers: dict[str, Any], routing_key: str | None, reported_by: str | None = None
) -> DeadLetter:
    """The record of a message found on the dead-letter audit queue."""
    plain = plain_headers(headers)
    kind, sender = peek(body)
    return DeadLetter(
        queue=str(plain.pop("x-chiffon-dead-queue", "?")),
        code=str(plain.pop("x-chiffon-dead-code", "unknown")),
        reason=str(plain.pop("x-chiffon-dead-reason", "")),
        message_id=_opt(plain.pop("x-chiffon-dead-message-id", None)),
        kind=kind,
        sender=sender,
        user_id=_opt(plain.pop("x-chiffon-dead-user", None)),
        routing_key=_opt(plain.pop("x-chiffon-dead-routing-key", routing_key)),
        headers=plain,
        body=body[:BODY_KEPT],
        body_size=len(body),
        reported_by=reported_by,
    )


def _opt(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
