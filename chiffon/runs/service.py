"""``Runs``: the application service every entry point goes through — the CLI, the HTTP API,
the dashboard, a program using the library.

It submits requests to the orchestrator and hands back a ``RunHandle``; it finds runs (one
resolver for every channel: a full id or a unique prefix), lists them, describes them, lets
any channel decide on a plan awaiting approval or cancel a run, follows a run's events, and
answers the read-side questions the audit commands ask. It holds no state of its own beyond
what it was given: the database, and when the process drives runs, the orchestrator.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from chiffon.audit.records import FailureRecord, LlmCallRecord, RunTimeline, ServiceChange
from chiffon.database import Database
from chiffon.orchestrator.events import RunEvent
from chiffon.orchestrator.run_ids import resolve_run_id
from chiffon.protocol import RunFinished
from chiffon.runs.handle import RunHandle
from chiffon.runs.identity import Identity
from chiffon.runs.listing import list_runs
from chiffon.runs.records import (
    Decision,
    DecisionRecord,
    Page,
    PlanPreview,
    RunDescription,
    RunFilters,
    RunSummary,
)

if TYPE_CHECKING:
    from chiffon.agents.store import AgentRecord
    from chiffon.audit.dead_letters import DeadLetterRecord
    from chiffon.playbooks.store import Suggestion
    from chiffon.protocol.messages import PlannerChoice


class Runs:
    """Runs, for every channel. ``System.runs`` is the one a process uses."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # -- the write side --------------------------------------------------------------------

    async def submit(
        self,
        request: str,
        *,
        by: Identity,
        planner: PlannerChoice = "auto",
        high_value: bool = False,
        dry_run: bool = True,
        idempotency_key: str | None = None,
    ) -> RunHandle:
        """Submit a request and return its handle at once; the run plans, then waits for a
        decision on its plan (from any channel). ``dry_run`` makes the check-mode diff part
        of the proposal. A second submit with the same ``idempotency_key`` returns the first
        run's handle. Raises ``JournalUnavailable`` when the database is down."""
        raise NotImplementedError("Runs.submit lands with the run events (milestone 2)")

    async def preview(self, request: str, *, planner: PlannerChoice = "auto") -> PlanPreview:
        """What ``request`` would be planned as: nothing is submitted or executed."""
        raise NotImplementedError("Runs.preview lands with milestone 2")

    async def decide(
        self,
        run_id: uuid.UUID,
        decision: Decision,
        *,
        plan_hash: str,
        revision: int,
        by: Identity,
        feedback: str | None = None,
    ) -> DecisionRecord:
        """See ``RunHandle.decide``."""
        raise NotImplementedError("decisions from any channel land with milestone 2")

    async def cancel(self, run_id: uuid.UUID, *, by: Identity) -> None:
        """See ``RunHandle.cancel``."""
        raise NotImplementedError("cancel lands with milestone 2")

    # -- one run ---------------------------------------------------------------------------

    async def get(self, run_id: uuid.UUID | str) -> RunHandle:
        """The run with this id, or the one whose id starts with this prefix (dashes
        optional). Raises ``RunNotFound`` (``AmbiguousRunId`` for a prefix of several)."""
        return RunHandle(self, await resolve_run_id(self.db, run_id))

    async def describe(self, run_id: uuid.UUID) -> RunDescription:
        """See ``RunHandle.describe``."""
        raise NotImplementedError("describe lands with milestone 2")

    def events(
        self, run_id: uuid.UUID, *, after: int | None = None, follow: bool = True
    ) -> AsyncIterator[RunEvent]:
        """See ``RunHandle.events``."""
        raise NotImplementedError("events land with milestone 2")

    async def result(self, run_id: uuid.UUID) -> RunFinished:
        """See ``RunHandle.result``."""
        raise NotImplementedError("result lands with milestone 2")

    # -- the read side ---------------------------------------------------------------------

    async def list(
        self, filters: RunFilters | None = None, *, cursor: str | None = None, limit: int = 50
    ) -> Page[RunSummary]:
        """Runs matching ``filters``, newest first, ``limit`` at a time (at most 500); pass
        the page's ``next_cursor`` for the next. Raises ``BadCursor``."""
        return await list_runs(self.db, filters or RunFilters(), cursor=cursor, limit=limit)

    async def timeline(self, run_id: uuid.UUID | str, *, output_lines: bool = False) -> RunTimeline:
        """Everything recorded about one run, messages and transitions merged in time order
        (``chiffon audit show``). Raises ``RunNotFound``."""
        from chiffon.audit.queries import run_timeline

        return await run_timeline(self.db, run_id, output_lines=output_lines)

    async def model_calls(self, run_id: uuid.UUID | str) -> Sequence[LlmCallRecord]:
        """The model calls made for a run, oldest first, with their cost."""
        return (await self.timeline(run_id)).llm_calls

    async def failures(
        self,
        *,
        since: dt.timedelta | None = None,
        service: str | None = None,
        limit: int = 50,
    ) -> Sequence[FailureRecord]:
        """Failure records, newest first (``chiffon audit failures``)."""
        from chiffon.audit.failures import recent_failures

        return await recent_failures(self.db, since=since, service=service, limit=limit)

    async def changes(
        self, service: str, *, since: dt.timedelta | None = None, limit: int = 50
    ) -> Sequence[ServiceChange]:
        """Every run that touched ``service``, newest first, with what each step changed."""
        from chiffon.audit.queries import service_changes

        return await service_changes(self.db, service, since=since, limit=limit)

    async def agents(self) -> Sequence[AgentRecord]:
        """Every agent an orchestrator has heard of, by name (``chiffon agents``)."""
        from chiffon.agents.store import AgentStore

        return await AgentStore(self.db).all()

    async def suggestions(
        self, *, status: Sequence[str] | None = None, limit: int = 200
    ) -> Sequence[Suggestion]:
        """Playbook improvement suggestions, by catalog, file and line."""
        from chiffon.playbooks.store import list_suggestions

        return await list_suggestions(self.db, status=status or None, limit=limit)

    async def dead_letters(
        self, *, since: dt.timedelta | None = None, code: str | None = None, limit: int = 100
    ) -> Sequence[DeadLetterRecord]:
        """Messages refused over RabbitMQ, newest first (``chiffon audit dead-letters``)."""
        from chiffon.audit.dead_letters import list_dead_letters

        return await list_dead_letters(self.db, since=since, code=code, limit=limit)

    async def accept_suggestion(self, suggestion_id: int) -> Suggestion:
        """Commit an open suggestion's diff on a branch of its playbook repository
        (``chiffon/suggestion-ID``; the checked-out branch is not touched) and mark it
        accepted. Raises ``SuggestionNotFound``, ``SuggestionNotOpen``, ``NoMechanicalFix``
        and what the git commit raises (``PatchDoesNotApply``, ``NotARepository``)."""
        from pathlib import Path

        from chiffon.playbooks.accept import commit_message, commit_on_branch
        from chiffon.playbooks.errors import NoMechanicalFix, SuggestionNotOpen
        from chiffon.playbooks.store import change_status, get_suggestion

        found = await get_suggestion(self.db, suggestion_id)
        if found.status != "open":
            raise SuggestionNotOpen(suggestion_id, found.status)
        if not found.diff:
            raise NoMechanicalFix(suggestion_id, found.fix)
        message = commit_message(
            found.id, found.rule, found.where, found.message, found.why, found.fix
        )
        done = await commit_on_branch(
            Path(found.catalog), suggestion_id=found.id, diff=found.diff, message=message
        )
        return await change_status(
            self.db, found.id, "accepted", branch=done.branch, commit=done.commit
        )

    async def dismiss_suggestion(self, suggestion_id: int) -> Suggestion:
        """Dismiss a suggestion: later checks keep it dismissed. Raises
        ``SuggestionNotFound``."""
        from chiffon.playbooks.store import change_status

        return await change_status(self.db, suggestion_id, "dismissed")
