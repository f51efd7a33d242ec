"""Retention: deleting journaled messages and inbox entries older than a cut-off.

Storage growth is the first complaint of every system that records every message, so the
journal can be pruned. Transitions are kept: they are each entity's state history, small,
and what audits read. Messages are found through their primary key: ids are UUIDv7, whose
leading 48 bits are the creation time in milliseconds, so "older than T" is a key range.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import asyncpg


@dataclasses.dataclass(frozen=True, slots=True)
class Pruned:
    """What a prune removed (or, in a dry run, would remove)."""

    messages: int
    inbox: int
    before: dt.datetime


def uuid7_floor(moment: dt.datetime) -> uuid.UUID:
    """The smallest UUIDv7 made at ``moment``: every id made earlier sorts below it."""
    ms = int(moment.timestamp() * 1000)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (0b10 << 62))


async def prune(dsn: str, before: dt.datetime, *, dry_run: bool = False) -> Pruned:
    """Delete messages made before ``before`` and inbox entries processed before it.

    Runs in one transaction; with ``dry_run`` only counts. Raises asyncpg's errors.
    """
    floor = uuid7_floor(before)
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            if dry_run:
                messages = await connection.fetchval(
                    "SELECT count(*) FROM messages WHERE id < $1", floor
                )
                inbox = await connection.fetchval(
                    "SELECT count(*) FROM inbox WHERE processed_at < $1", before
                )
            else:
                status = await connection.execute("DELETE FROM messages WHERE id < $1", floor)
                messages = int(status.split()[-1])
                status = await connection.execute(
                    "DELETE FROM inbox WHERE processed_at < $1", before
                )
                inbox = int(status.split()[-1])
    finally:
        await connection.close()
    return Pruned(messages=int(messages), inbox=int(inbox), before=before)


MAX_AGE = dt.timedelta(days=36_525)
"""A hundred years: the longest age ``parse_age`` takes (longer ones reach before year 1)."""


def parse_age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``90m`` or ``2w`` as a timedelta, at most ``MAX_AGE``. Raises
    ``ValueError`` naming the expected form."""
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not (number.isascii() and number.isdigit()) or int(number) <= 0:
        raise ValueError(f"{text!r} is not an age like 30d, 12h, 90m or 2w")
    try:
        age = dt.timedelta(**{units[unit]: int(number)})
    except OverflowError:
        age = MAX_AGE + MAX_AGE
    if age > MAX_AGE:
        raise ValueError(f"{text!r} is longer than a hundred years (36525d)")
    return age
