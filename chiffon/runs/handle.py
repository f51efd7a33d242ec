"""``RunHandle``: one run, as any channel holds it — describe it, follow its events, decide
on its plan, cancel it, wait for its end. A handle is cheap (an id and its ``Runs``); any
number of them, in any number of processes, may hold the same run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from chiffon.orchestrator.events import RunEvent
from chiffon.protocol import RunFinished
from chiffon.runs.identity import Identity
from chiffon.runs.records import Decision, DecisionRecord, RunDescription

if TYPE_CHECKING:
    from chiffon.runs.service import Runs


class RunHandle:
    """A run, by id. Made by ``Runs.submit`` and ``Runs.get``."""

    __slots__ = ("_runs", "id")

    def __init__(self, runs: Runs, run_id: uuid.UUID) -> None:
        self._runs = runs
        self.id = run_id

    async def describe(self) -> RunDescription:
        """The run in full: plans, pending approval, decisions, steps, timeline, cost."""
        return await self._runs.describe(self.id)

    def events(self, after: int | None = None, *, follow: bool = True) -> AsyncIterator[RunEvent]:
        """Every event of the run after event ``after`` (from the first when ``None``): the
        stored ones, then live ones as they happen, each once and in order; it ends after
        ``run.finished``. With ``follow=False`` it ends at the last event stored now."""
        return self._runs.events(self.id, after=after, follow=follow)

    async def decide(
        self,
        decision: Decision,
        *,
        plan_hash: str,
        revision: int,
        by: Identity,
        feedback: str | None = None,
    ) -> DecisionRecord:
        """Decide on the plan awaiting approval: exactly ``revision`` with ``plan_hash``.
        The first decision wins. Raises ``StaleRevision``, ``ApprovalExpired``,
        ``AlreadyDecided`` (naming who decided first), ``NotAwaitingApproval``."""
        return await self._runs.decide(
            self.id, decision, plan_hash=plan_hash, revision=revision, by=by, feedback=feedback
        )

    async def cancel(self, *, by: Identity) -> None:
        """Stop the run: awaiting approval, it ends ``cancelled`` at once; running, its
        current step is stopped and the run ends ``cancelled``."""
        await self._runs.cancel(self.id, by=by)

    async def result(self) -> RunFinished:
        """Wait for the run's end and return its summary."""
        return await self._runs.result(self.id)

    def __repr__(self) -> str:
        return f"<RunHandle {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunHandle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)
