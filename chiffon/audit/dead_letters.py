"""Dead-letter records: every message a consumer refused (unsigned, forged, replayed, of an
unknown kind or version, oversize, invalid), kept with its reason in ``dead_letters``.

The bridge hands each refusal to ``record_dead_letter`` (its fields are the keywords); the
``chiffon audit dead-letters`` command reads them back with ``list_dead_letters``. What is
recorded came from whoever published the message: text is stored as it came except for NUL
characters, which PostgreSQL's text and jsonb refuse — a message must not be able to make its
own refusal unrecordable — nor lone surrogates, which UTF-8 cannot encode.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field, field_serializer
from sqlalchemy import func, insert, select

from chiffon.actors import id_to_uuid, new_id
from chiffon.audit.filters import within
from chiffon.audit.tables import dead_letters
from chiffon.database import Database

BODY_KEPT = 64 * 1024
"""How much of a refused body is kept (``body_size`` says how big it was)."""
_TEXT_KEPT = 2000


class DeadLetterRecord(BaseModel):
    """One refused message, as ``chiffon audit dead-letters`` shows it.

    In JSON, ``body`` is the kept bytes as text when they are UTF-8 and as base64 otherwise;
    ``body_encoding`` says which.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID
    at: dt.datetime
    queue: str
    code: str
    reason: str
    message_id: str | None
    kind: str | None
    sender: str | None
    user_id: str | None
    reported_by: str | None
    """Who refused the message, as the broker vouches: ``orchestrator``, ``agent:<name>`` (an
    agent's report of what it refused, never the orchestrator's refusal), ``user:<login>``,
    ``unverified`` (no AMQP user: anyone may have sent it); null on records made before
    reporters were kept."""
    routing_key: str | None
    headers: dict[str, Any]
    body: bytes
    body_size: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def body_encoding(self) -> Literal["utf-8", "base64"]:
        try:
            self.body.decode()
        except UnicodeDecodeError:
            return "base64"
        return "utf-8"

    @field_serializer("body", when_used="json")
    def _body_text(self, body: bytes) -> str:
        if self.body_encoding == "utf-8":
            return body.decode()
        return base64.b64encode(body).decode()


_COLUMNS = tuple(dead_letters.c[name] for name in DeadLetterRecord.model_fields)


async def record_dead_letter(
    database: Database,
    *,
    queue: str,
    code: str,
    reason: str,
    message_id: str | None,
    kind: str | None,
    sender: str | None,
    user_id: str | None,
    routing_key: str | None,
    headers: Mapping[str, Any],
    reported_by: str | None = None,
    body: bytes,
    body_size: int,
    at: dt.datetime | None = None,
) -> uuid.UUID:
    """Store one refused message and return the record's id (a UUIDv7: ids sort by time).

    ``body`` is kept up to ``BODY_KEPT`` bytes; ``body_size`` is the size of the whole body.
    Header values that are not JSON scalars are stored as their text. Raises what the
    ``Database`` raises.
    """
    record_id = id_to_uuid(new_id())
    await database.execute(
        insert(dead_letters).values(
            id=record_id,
            at=at if at is not None else func.now(),
            queue=_text(queue) or "?",
            code=_text(code) or "unknown",
            reason=_text(reason) or "",
            message_id=_text(message_id),
            kind=_text(kind),
            sender=_text(sender),
            user_id=_text(user_id),
            reported_by=_text(reported_by),
            routing_key=_text(routing_key),
            headers={_text(str(k)) or "?": _scalar(v) for k, v in headers.items()},
            body=bytes(body[:BODY_KEPT]),
            body_size=body_size,
        )
    )
    return record_id


async def list_dead_letters(
    database: Database,
    *,
    since: dt.timedelta | None = None,
    code: str | None = None,
    reported_by: str | None = None,
    limit: int = 100,
) -> list[DeadLetterRecord]:
    """Refused messages, newest first: recorded within ``since`` (by this machine's clock),
    of reason ``code``, reported by ``reported_by``; at most ``limit``. Raises what the
    ``Database`` raises."""
    query = select(*_COLUMNS)
    if reported_by is not None:
        query = query.where(dead_letters.c.reported_by == reported_by)
    if since is not None:
        query = query.where(within(dead_letters.c.at, since))
    if code is not None:
        query = query.where(dead_letters.c.code == code)
    query = query.order_by(dead_letters.c.at.desc(), dead_letters.c.id.desc()).limit(limit)
    return [DeadLetterRecord.model_validate(dict(row)) for row in await database.fetch(query)]


def _text(value: str | None) -> str | None:
    """``value`` as PostgreSQL stores text: no NUL, no lone surrogate (JSON's ``"\\ud800"``
    decodes to one, and UTF-8 cannot encode it)."""
    if value is None:
        return None
    value = value[:_TEXT_KEPT].replace("\x00", "\ufffd")
    return value.encode(errors="replace").decode()


def _scalar(value: Any) -> str | int | float | bool | None:
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float) and math.isfinite(value):  # jsonb has no NaN or infinity
        return value
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return _text(str(value))
