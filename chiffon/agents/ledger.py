"""The agent's ledger: every step attempt it started, and the result of those it finished.

A small SQLite file in the agent's state directory, so that it outlives the agent's process:

- a redelivered ``StepExecute`` (the same step id and attempt) finds its row and never runs
  a second time;
- an attempt started by a process that died (``owner`` no longer alive) is *taken over* by
  the next agent on that ledger: what is left of its Ansible is killed and it is finished as
  ``interrupted``, which is what a status question or a redelivery then hears;
- a finished attempt's result is kept for an orchestrator that asks after restarting.

Blocking (sqlite3): the agent calls it from a worker thread. One connection, guarded by a
lock; WAL and a busy timeout let two processes of one home share the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from chiffon.agents.errors import LedgerUnavailable
from chiffon.protocol import StepResult

AttemptState = Literal["started", "finished"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    step_id     TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    run_id      TEXT    NOT NULL,
    envelope_id TEXT,
    owner       TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('started', 'finished')),
    result      TEXT,
    started_at  REAL    NOT NULL,
    finished_at REAL,
    PRIMARY KEY (step_id, attempt)
)
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    """One row of the ledger."""

    step_id: uuid.UUID
    attempt: int
    run_id: uuid.UUID
    owner: str
    state: AttemptState
    result: StepResult | None
    started_at: float


class Ledger:
    """The ledger in ``path``, written on behalf of ``owner`` (``host:pid:start`` of this
    process). Methods raise ``LedgerUnavailable`` when SQLite fails."""

    def __init__(self, path: Path, owner: str) -> None:
        self.path = path
        self.owner = owner
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
            with self._db:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerUnavailable(path, str(exc)) from None

    def begin(
        self, run_id: uuid.UUID, step_id: uuid.UUID, attempt: int, envelope_id: str | None
    ) -> Attempt | None:
        """Record that this process starts the attempt. Returns ``None`` when it is new, or
        the existing row when the attempt was seen before (nothing is written then)."""
        with self._guard():
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO attempts (step_id, attempt, run_id, envelope_id, owner,"
                " state, started_at) VALUES (?, ?, ?, ?, ?, 'started', ?)",
                (str(step_id), attempt, str(run_id), envelope_id, self.owner, time.time()),
            )
            self._db.commit()
            if cursor.rowcount == 1:
                return None
            return self._get(step_id, attempt)

    def finish(self, result: StepResult) -> None:
        """Record the attempt's result (the row must exist)."""
        with self._guard():
            self._db.execute(
                "UPDATE attempts SET state = 'finished', result = ?, finished_at = ?"
                " WHERE step_id = ? AND attempt = ?",
                (result.model_dump_json(), time.time(), str(result.step_id), result.attempt),
            )
            self._db.commit()

    def get(self, step_id: uuid.UUID, attempt: int) -> Attempt | None:
        """The attempt's row, or ``None`` if it was never started here."""
        with self._guard():
            return self._get(step_id, attempt)

    def unfinished(self) -> list[Attempt]:
        """Attempts still ``started`` (the caller decides which of them nobody runs)."""
        with self._guard():
            rows = self._db.execute("SELECT * FROM attempts WHERE state = 'started'").fetchall()
        return [_attempt(row) for row in rows]

    def prune(self, older_than_s: float) -> int:
        """Forget finished attempts older than ``older_than_s`` seconds; returns how many."""
        with self._guard():
            cursor = self._db.execute(
                "DELETE FROM attempts WHERE state = 'finished' AND finished_at < ?",
                (time.time() - older_than_s,),
            )
            self._db.commit()
            return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _get(self, step_id: uuid.UUID, attempt: int) -> Attempt | None:
        row = self._db.execute(
            "SELECT * FROM attempts WHERE step_id = ? AND attempt = ?", (str(step_id), attempt)
        ).fetchone()
        return None if row is None else _attempt(row)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise LedgerUnavailable(self.path, str(exc)) from None


def _attempt(row: tuple[object, ...]) -> Attempt:
    step_id, attempt, run_id, _envelope, owner, state, result, started_at, _finished = row
    return Attempt(
        step_id=uuid.UUID(str(step_id)),
        attempt=int(str(attempt)),
        run_id=uuid.UUID(str(run_id)),
        owner=str(owner),
        state="finished" if state == "finished" else "started",
        result=None if result is None else StepResult.model_validate_json(str(result)),
        started_at=float(str(started_at)),
    )
