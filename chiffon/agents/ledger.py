"""The agent's ledger: every step attempt it started, and the result of those it finished.

A small SQLite file in the agent's state directory, so that it outlives the agent's process:

- a redelivered ``StepExecute`` (the same step id and attempt) finds its row and never runs
  a second time;
- a ``StepExecute`` older than an attempt of the same step (run and position) the ledger
  already holds is refused (``AttemptOutdated``): the orchestrator had given up on it;
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

from chiffon.agents.errors import AttemptOutdated, LedgerUnavailable
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
    position    INTEGER,
    PRIMARY KEY (step_id, attempt)
)
"""

# A ledger written before attempts named their step's position has no such column; its rows
# stay NULL there (and so never make a newer attempt refuse an older one).
_ADD_POSITION = "ALTER TABLE attempts ADD COLUMN position INTEGER"
_STEP_INDEX = "CREATE INDEX IF NOT EXISTS attempts_step ON attempts (run_id, position)"
_COLUMNS = "step_id, attempt, run_id, owner, state, result, started_at, finished_at, position"


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
    finished_at: float | None = None
    position: int | None = None


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
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(attempts)")}
                if "position" not in columns:
                    self._db.execute(_ADD_POSITION)
                self._db.execute(_STEP_INDEX)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerUnavailable(path, str(exc)) from None

    def begin(
        self,
        run_id: uuid.UUID,
        step_id: uuid.UUID,
        attempt: int,
        envelope_id: str | None,
        position: int | None = None,
    ) -> Attempt | None:
        """Record that this process starts the attempt (of the step at ``position`` in its
        run's plan). Returns ``None`` when it is new, or the existing row when the attempt was
        seen before (nothing is written then). Raises ``AttemptOutdated`` when the ledger holds
        a newer attempt of the same step (nothing is written either)."""
        with self._guard():
            seen = self._get(step_id, attempt)
            if seen is not None:
                return seen
            if position is not None:
                (newest,) = self._db.execute(
                    "SELECT max(attempt) FROM attempts WHERE run_id = ? AND position = ?",
                    (str(run_id), position),
                ).fetchone()
                if newest is not None and int(newest) > attempt:
                    raise AttemptOutdated(attempt, int(newest), position)
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO attempts (step_id, attempt, run_id, envelope_id, owner,"
                " state, started_at, position) VALUES (?, ?, ?, ?, ?, 'started', ?, ?)",
                (str(step_id), attempt, str(run_id), envelope_id, self.owner, time.time(),
                 position),
            )  # fmt: skip
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
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM attempts WHERE state = 'started'"
            ).fetchall()
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
            f"SELECT {_COLUMNS} FROM attempts WHERE step_id = ? AND attempt = ?",
            (str(step_id), attempt),
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
    step_id, attempt, run_id, owner, state, result, started_at, finished_at, position = row
    return Attempt(
        step_id=uuid.UUID(str(step_id)),
        attempt=int(str(attempt)),
        run_id=uuid.UUID(str(run_id)),
        owner=str(owner),
        state="finished" if state == "finished" else "started",
        result=None if result is None else StepResult.model_validate_json(str(result)),
        started_at=float(str(started_at)),
        finished_at=None if finished_at is None else float(str(finished_at)),
        position=None if position is None else int(str(position)),
    )
