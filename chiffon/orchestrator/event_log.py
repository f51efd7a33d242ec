"""``EventLog``: where runs tell the world what happens to them, and how watchers hear it.

Every event is a row of ``run_events``, numbered per run from 1. The number is taken by
``UPDATE runs SET events = events + 1`` inside the event's own transaction, which locks the
run's row until the commit: two writers of one run (the process driving it, another deciding
on it) are serialised, so numbers are given in commit order and a watcher that has seen
event n and then sees n + 2 knows n + 1 is committed too.

Each commit sends ``NOTIFY chiffon_run_events, '<run id> <number> <kind>'``; every process
with a listening ``EventLog`` passes it to its watchers of that run as a ``Notice``. Events
written in this process are also handed to its watchers whole, right after the commit, so
they need not read them back. Watchers take care of duplicates (an event and its notice) and
gaps (a missed notice) by number: ``chiffon.runs`` reads the store from its last number on.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from pydantic import BaseModel
from sqlalchemy import and_, func, insert, select, update

from chiffon.database import Database
from chiffon.orchestrator.errors import RunNotFound
from chiffon.orchestrator.events import RunEvent
from chiffon.run_records import run_events, runs

log = structlog.get_logger("chiffon.events")

CHANNEL = "chiffon_run_events"
_MINE_KEPT = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class Notice:
    """A notification that event ``seq`` (of ``kind``) of ``run_id`` is committed."""

    run_id: uuid.UUID
    seq: int
    kind: str


Watcher = Callable[[RunEvent | Notice], None]
"""Called on the event loop with each event of its run written here, and each notice of one
committed anywhere; it must not block."""


def as_data(model: BaseModel) -> dict[str, Any]:
    """A model as an event's ``data``: JSON types only."""
    return model.model_dump(mode="json")


class EventLog:
    """Writes run events, reads them back, and tells this process's watchers."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self._watchers: dict[uuid.UUID, list[Watcher]] = {}
        self._any: list[Watcher] = []
        self._mine: collections.OrderedDict[tuple[uuid.UUID, int], None] = collections.OrderedDict()
        """Events written here whose notice has not come back yet: their watchers are
        handed them whole, so the notice would only send each to the store for nothing."""
        self.listening = False
        """Whether notices from other processes reach the watchers (``listen``)."""

    async def insert(
        self, tx: Database, run_id: uuid.UUID, kind: str, data: Mapping[str, Any]
    ) -> RunEvent:
        """Write one event inside the caller's transaction ``tx``; ``publish`` it once that
        has committed. Raises ``RunNotFound``."""
        row = await tx.fetch_one(
            update(runs)
            .where(runs.c.id == run_id)
            .values(events=runs.c.events + 1)
            .returning(runs.c.events)
        )
        if row is None:
            raise RunNotFound(f"no run has the id {run_id}")
        event = RunEvent(
            id=row["events"], run_id=run_id, at=dt.datetime.now(dt.UTC), kind=kind,
            data=dict(data),
        )  # fmt: skip
        await tx.execute(
            insert(run_events).values(
                run_id=run_id, seq=event.id, at=event.at, kind=kind, data=event.data
            )
        )
        await tx.execute(select(func.pg_notify(CHANNEL, f"{run_id} {event.id} {kind}")))
        self._mine[(run_id, event.id)] = None
        while len(self._mine) > _MINE_KEPT:  # rolled back: their notices never come
            self._mine.popitem(last=False)
        return event

    async def append(self, run_id: uuid.UUID, kind: str, data: Mapping[str, Any]) -> RunEvent:
        """Write one event in a transaction of its own and tell the watchers. Raises what
        the ``Database`` raises, and ``RunNotFound``."""
        async with self.db.transaction() as tx:
            event = await self.insert(tx, run_id, kind, data)
        self.publish(event)
        return event

    def publish(self, event: RunEvent) -> None:
        """Hand a committed event to this process's watchers of its run."""
        self._tell(event.run_id, event)

    async def stored(
        self, run_id: uuid.UUID, *, after: int = 0, limit: int = 500
    ) -> list[RunEvent]:
        """The run's stored events numbered above ``after``, in order, at most ``limit``."""
        rows = await self.db.fetch(
            select(run_events)
            .where(and_(run_events.c.run_id == run_id, run_events.c.seq > after))
            .order_by(run_events.c.seq)
            .limit(limit)
        )
        return [
            RunEvent(id=r["seq"], run_id=r["run_id"], at=r["at"], kind=r["kind"], data=r["data"])
            for r in rows
        ]

    def watch(self, run_id: uuid.UUID, watcher: Watcher) -> Callable[[], None]:
        """Have ``watcher`` told about ``run_id``'s events; returns what stops it."""
        self._watchers.setdefault(run_id, []).append(watcher)

        def unwatch() -> None:
            watchers = self._watchers.get(run_id)
            if watchers is not None and watcher in watchers:
                watchers.remove(watcher)
                if not watchers:
                    del self._watchers[run_id]

        return unwatch

    def watch_any(self, watcher: Watcher) -> Callable[[], None]:
        """Have ``watcher`` told about every run's events (what lists runs live: the
        dashboard's approvals inbox); returns what stops it."""
        self._any.append(watcher)

        def unwatch() -> None:
            if watcher in self._any:
                self._any.remove(watcher)

        return unwatch

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[None]:
        """Hear every process's events (``LISTEN``) while the context is open."""
        async with self.db.listen(CHANNEL, self._notified):
            self.listening = True
            try:
                yield
            finally:
                self.listening = False

    def _notified(self, payload: str) -> None:
        try:
            run, seq, kind = payload.split(" ", 2)
            notice = Notice(uuid.UUID(run), int(seq), kind)
        except ValueError:
            log.warning("notification ignored: not a run event", payload=payload[:200])
            return
        if self._mine.pop((notice.run_id, notice.seq), False) is None:
            return  # written here: published whole (a lost publish shows as a gap)
        self._tell(notice.run_id, notice)

    def _tell(self, run_id: uuid.UUID, what: RunEvent | Notice) -> None:
        for watcher in list(self._watchers.get(run_id, ())):
            try:
                watcher(what)
            except Exception:
                log.exception("run event watcher failed; dropped", run_id=str(run_id))
                self._watchers.get(run_id, []).remove(watcher)
        for watcher in list(self._any):
            try:
                watcher(what)
            except Exception:
                log.exception("run event watcher failed; dropped", run_id=str(run_id))
                self._any.remove(watcher)
