"""``Runs``: the application service every entry point goes through — the CLI, the HTTP API,
the dashboard, a program using the library.

It submits requests to the orchestrator and hands back a ``RunHandle``; it finds runs (one
resolver for every channel: a full id or a unique prefix), lists them, describes them, lets
any channel decide on a plan awaiting approval or cancel a run, follows a run's events, and
answers the read-side questions the audit commands ask. It holds no state of its own beyond
what it was given: the database, and when the process drives runs, the orchestrator.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from typing import TYPE_CHECKING, Any

from chiffon.actors import ActorRef
from chiffon.audit.records import FailureRecord, LlmCallRecord, RunTimeline, ServiceChange
from chiffon.audit.records import RunSummary as AuditRunSummary
from chiffon.database import Database
from chiffon.errors import ConfigError
from chiffon.orchestrator import decisions
from chiffon.orchestrator.event_log import EventLog, Notice
from chiffon.orchestrator.events import FINISHED, RunEvent
from chiffon.orchestrator.run_ids import resolve_run_id
from chiffon.orchestrator.states import RUN_TERMINAL
from chiffon.orchestrator.store import RunStore
from chiffon.protocol import RunFinished, RunRequested
from chiffon.runs.handle import RunHandle
from chiffon.runs.identity import Identity
from chiffon.runs.listing import list_runs, summaries_query, summary_of
from chiffon.runs.records import (
    Decision,
    DecisionRecord,
    Page,
    PendingApproval,
    PlannedStep,
    PlanPreview,
    PlanRevision,
    RunDescription,
    RunFilters,
    RunSummary,
)
from chiffon.sealing import is_sealed

if TYPE_CHECKING:
    from chiffon.agents.store import AgentRecord
    from chiffon.audit.dead_letters import DeadLetterRecord
    from chiffon.audit.statistics import RecordStatistics
    from chiffon.catalog import Catalog
    from chiffon.orchestrator.store import ApprovalRecord
    from chiffon.planning.planner import Planner
    from chiffon.playbooks.store import Suggestion
    from chiffon.protocol.messages import PlannerChoice
    from chiffon.sealing import Sealer

POLL_S = 2.0
"""How long a watcher waits for a notice before it reads the store anyway: notices make it
prompt, the store makes it right (a notice lost with a dropped connection costs this much)."""
POLL_UNLISTENED_S = 0.25
"""The same, in a process that does not listen for other processes' events."""
HIDDEN = "***"
PAGE = 500
"""Events read from the store at a time."""


class Runs:
    """Runs, for every channel. ``System.runs`` is the one a process uses.

    With only a ``database`` it finds, lists, describes, follows, decides on and cancels
    runs (the CLI's ``approve``/``audit`` commands in a process of their own); with the
    ``orchestrator`` (and the ``planner_for`` and ``catalog`` of the domain) it also submits,
    resumes and previews. ``events`` is the process's ``EventLog``: when it listens, other
    processes' events reach this one's watchers at once."""

    def __init__(
        self,
        database: Database,
        *,
        events: EventLog | None = None,
        orchestrator: ActorRef | None = None,
        catalog: Catalog | None = None,
        planner_for: Any = None,
        approval_ttl: dt.timedelta = dt.timedelta(minutes=15),
        budget_usd: float = 0.50,
        sealer: Sealer | None = None,
    ) -> None:
        self.db = database
        self.sealer = sealer
        self.store = RunStore(database)
        self.log = events if events is not None else EventLog(database)
        self._orchestrator = orchestrator
        self._catalog = catalog
        self._planner_for = planner_for
        self.approval_ttl = approval_ttl
        self.budget_usd = budget_usd

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
        run_id: uuid.UUID | None = None,
    ) -> RunHandle:
        """Submit a request and return its handle at once; the run plans, then waits for a
        decision on its plan (from any channel). ``dry_run`` makes the check-mode diff part
        of the proposal. ``run_id`` chooses the new run's id (a random one by default).
        Raises ``JournalUnavailable`` when the database is down, ``ConfigError`` when this
        process has no catalog to plan with. ``idempotency_key`` is accepted and not yet
        kept: a second submit makes a second run."""
        if self.sealer is not None and self._catalog is not None:
            from chiffon.planning.sealing import seal_request

            # Sealed before it is journaled: the stored text never holds what was typed.
            request = seal_request(self._catalog, request, self.sealer)
        message = RunRequested(
            run_id=run_id or uuid.uuid4(), request=request, requested_by=by.name,
            planner=planner, high_value=high_value, budget_usd=self.budget_usd,
            dry_run=dry_run,
        )  # fmt: skip
        answer = await self._driver().ask(message, timeout=120.0)
        if isinstance(answer, BaseException):
            raise answer
        return RunHandle(self, message.run_id)

    async def resume(
        self, run_id: uuid.UUID | str, *, by: Identity, dry_run: bool = True
    ) -> RunHandle:
        """Pick up a run a stopped process left (``chiffon run --resume``): this process
        drives it from where it stopped. Raises ``RunNotFound``, ``NotResumable``."""
        from chiffon.orchestrator.orchestrator import ResumeRun

        resolved = await resolve_run_id(self.db, run_id)
        answer = await self._driver().ask(
            ResumeRun(resolved, by.name, dry_run=dry_run), timeout=120.0
        )
        if isinstance(answer, BaseException):
            raise answer
        return RunHandle(self, resolved)

    async def preview(self, request: str, *, planner: PlannerChoice = "auto") -> PlanPreview:
        """What ``request`` would be planned as: nothing is submitted or executed. Raises
        ``PlanningFailed`` when the planner cannot answer (a model that is down)."""
        from chiffon.runs.preview import preview_with

        if self._planner_for is None or self._catalog is None:
            raise ConfigError("no catalog: pass --catalog DIR or set CHIFFON_CATALOG")
        chosen: Planner = self._planner_for(planner, False)
        return await preview_with(chosen, self._catalog, request, sealer=self.sealer)

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
        record = await decisions.decide(
            self.store, self.log, run_id, decision=decision, revision=revision,
            plan_hash=plan_hash, approver=by.name, channel=by.channel, feedback=feedback,
            valid_for=self.approval_ttl,
        )  # fmt: skip
        return _decision(record)

    async def cancel(self, run_id: uuid.UUID, *, by: Identity) -> None:
        """See ``RunHandle.cancel``. Raises ``RunEnded``."""
        await decisions.cancel(self.store, self.log, run_id, by=by.name, channel=by.channel)

    # -- one run ---------------------------------------------------------------------------

    async def get(self, run_id: uuid.UUID | str) -> RunHandle:
        """The run with this id, or the one whose id starts with this prefix (dashes
        optional). Raises ``RunNotFound`` (``AmbiguousRunId`` for a prefix of several)."""
        return RunHandle(self, await resolve_run_id(self.db, run_id))

    async def summary(self, run_id: uuid.UUID) -> RunSummary:
        """One run's summary line. Raises ``RunNotFound``."""
        from chiffon.orchestrator.errors import RunNotFound
        from chiffon.run_records import runs

        row = await self.db.fetch_one(summaries_query().where(runs.c.id == run_id))
        if row is None:
            raise RunNotFound(f"no run has the id {run_id}")
        return summary_of(row)

    async def pending(self, run_id: uuid.UUID) -> PendingApproval | None:
        """The plan awaiting a decision, or ``None``."""
        found = await self.store.pending(run_id)
        if found is None:
            return None
        return PendingApproval(
            revision=found.revision, plan_hash=found.plan_hash, expires_at=found.respond_by
        )

    async def describe(self, run_id: uuid.UUID) -> RunDescription:
        """See ``RunHandle.describe``."""
        from chiffon.audit.queries import run_timeline

        timeline = await run_timeline(self.db, run_id)
        dry_runs: dict[int, tuple[str, ...]] = {}
        for event in await self._of_kind(run_id, "plan.proposed"):
            dry_runs[int(event.data["revision"])] = tuple(event.data.get("dry_run") or ())
        revisions = tuple(
            PlanRevision(
                revision=p.revision, plan_hash=p.plan_hash,
                steps=tuple(
                    PlannedStep(
                        playbook=step["playbook"], hosts=tuple(step["hosts"]),
                        variables=self._masked(step["playbook"], step.get("variables") or {}),
                        reason=step.get("reason", ""),
                    )
                    for step in p.plan.get("steps", ())
                ),
                summary=p.plan.get("summary", ""), risk=p.plan.get("risk", "low"),
                confidence=float(p.plan.get("confidence", 0.0)),
                planner=p.plan.get("planner", ""), feedback=p.feedback,
                dry_run=dry_runs.get(p.revision, ()), created_at=p.created_at,
            )
            for p in timeline.plans
        )  # fmt: skip
        steps = tuple(
            step.model_copy(update={"variables": self._masked(step.playbook, step.variables)})
            for step in timeline.steps
        )
        run = timeline.run
        return RunDescription(
            summary=await self.summary(run.id), revisions=revisions,
            pending=await self.pending(run.id),
            decisions=tuple(_decision(d) for d in await self.store.decisions(run.id)),
            steps=steps, failures=timeline.failures, transitions=timeline.events,
            model_calls=timeline.llm_calls, cost_usd=run.cost_usd, planner=run.planner,
            high_value=run.high_value, budget_usd=run.budget_usd,
        )  # fmt: skip

    async def _of_kind(self, run_id: uuid.UUID, kind: str) -> list[RunEvent]:
        from sqlalchemy import and_, select

        from chiffon.run_records import run_events

        rows = await self.db.fetch(
            select(run_events)
            .where(and_(run_events.c.run_id == run_id, run_events.c.kind == kind))
            .order_by(run_events.c.seq)
        )
        return [
            RunEvent(id=r["seq"], run_id=r["run_id"], at=r["at"], kind=r["kind"], data=r["data"])
            for r in rows
        ]

    def _masked(self, playbook: str, variables: dict[str, Any]) -> dict[str, Any]:
        secret: Collection[str]
        if self._catalog is None:
            secret = variables.keys()  # nothing tells secrets from the rest: hide them all
        else:
            entry = self._catalog.entries.get(playbook)
            declared = entry.variables if entry is not None else {}
            secret = {n for n, v in declared.items() if v.secret} if entry else variables.keys()
        return {n: HIDDEN if n in secret or is_sealed(v) else v for n, v in variables.items()}

    async def events(
        self, run_id: uuid.UUID, *, after: int | None = None, follow: bool = True
    ) -> AsyncIterator[RunEvent]:
        """See ``RunHandle.events``.

        The watcher is registered before the store is read, so an event committed while it
        reads is heard; each event is yielded once, by its number: one this process wrote
        comes whole, one another process wrote is a ``Notice`` and is read from the store,
        as is anything after a gap. The store is read only then (and when a wait runs out):
        a hundred watchers of one run cost a hundred reads per event otherwise."""
        last = after or 0
        news: asyncio.Queue[RunEvent | Notice] = asyncio.Queue()
        unwatch = self.log.watch(run_id, news.put_nowait)
        try:
            while True:  # what the store holds, a page at a time
                batch = await self.log.stored(run_id, after=last, limit=PAGE)
                for event in batch:
                    yield event
                    last = event.id
                    if event.kind == FINISHED:
                        return
                if len(batch) < PAGE:
                    break
            if not follow:
                return
            if (await self.store.run(run_id)).status in RUN_TERMINAL:
                # Ended before it told its end (older runs), or between the read and this.
                for event in await self.log.stored(run_id, after=last):
                    yield event
                return
            wait = POLL_S if self.log.listening else POLL_UNLISTENED_S
            while True:
                heard: RunEvent | Notice | None = None
                if not news.empty():
                    heard = news.get_nowait()
                else:
                    with contextlib.suppress(TimeoutError):  # nothing heard: look in the store
                        async with asyncio.timeout(wait):  # not wait_for: no task per event
                            heard = await news.get()
                behind = heard is None
                while heard is not None:
                    if isinstance(heard, RunEvent) and heard.id == 0:
                        yield heard  # its end, which the database could not store
                        return
                    seq = heard.id if isinstance(heard, RunEvent) else heard.seq
                    if seq > last + 1 or (seq == last + 1 and isinstance(heard, Notice)):
                        behind = True  # read it (and what comes before it) from the store
                        break
                    if seq == last + 1 and isinstance(heard, RunEvent):
                        yield heard
                        last = seq
                        if heard.kind == FINISHED:
                            return
                    heard = news.get_nowait() if not news.empty() else None
                while behind:
                    batch = await self.log.stored(run_id, after=last, limit=PAGE)
                    for event in batch:
                        yield event
                        last = event.id
                        if event.kind == FINISHED:
                            return
                    behind = len(batch) == PAGE
        finally:
            unwatch()

    async def result(self, run_id: uuid.UUID) -> RunFinished:
        """See ``RunHandle.result``."""
        told = await self.db.fetch_one(_last_event(run_id))
        after = max(int(told["events"]) - 1, 0) if told is not None else 0
        async for event in self.events(run_id, after=after):
            if event.kind == FINISHED:
                return event.finished()
        run = await self.store.run(run_id)  # ended before runs told their end
        return RunFinished(run_id=run.id, status=run.status, reason=run.reason)

    async def last_event(self, run_id: uuid.UUID) -> int:
        """The id of the run's latest event (0 before its first)."""
        row = await self.db.fetch_one(_last_event(run_id))
        return 0 if row is None else int(row["events"])

    def _driver(self) -> ActorRef:
        if self._orchestrator is None:
            raise ConfigError("no catalog: pass --catalog DIR or set CHIFFON_CATALOG")
        return self._orchestrator

    # -- the read side ---------------------------------------------------------------------

    async def list(
        self, filters: RunFilters | None = None, *, cursor: str | None = None, limit: int = 50
    ) -> Page[RunSummary]:
        """Runs matching ``filters``, newest first, ``limit`` at a time (at most 500); pass
        the page's ``next_cursor`` for the next. Raises ``BadCursor``."""
        return await list_runs(self.db, filters or RunFilters(), cursor=cursor, limit=limit)

    async def records(
        self,
        *,
        status: str | Sequence[str] | None = None,
        since: dt.timedelta | None = None,
        service: str | None = None,
        limit: int = 50,
    ) -> Sequence[AuditRunSummary]:
        """Runs as the audit lists them (cost, planner, plan hash), newest first: in one of
        ``status``, created within ``since`` of now, touching ``service``."""
        from chiffon.audit.queries import list_runs as audit_runs

        return await audit_runs(self.db, status=status, since=since, service=service, limit=limit)

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
        self,
        *,
        since: dt.timedelta | None = None,
        code: str | None = None,
        reported_by: str | None = None,
        limit: int = 100,
    ) -> Sequence[DeadLetterRecord]:
        """Messages refused over RabbitMQ, newest first (``chiffon audit dead-letters``);
        ``reported_by`` keeps one reporter's (``orchestrator``, ``agent:<name>``…)."""
        from chiffon.audit.dead_letters import list_dead_letters

        return await list_dead_letters(
            self.db, since=since, code=code, reported_by=reported_by, limit=limit
        )

    async def statistics(self) -> RecordStatistics:
        """Runs by state, run and step durations, dead letters by code, model calls and cost
        (``/metrics``)."""
        from chiffon.audit.statistics import record_statistics

        return await record_statistics(self.db)

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


def _last_event(run_id: uuid.UUID) -> Any:
    from sqlalchemy import select

    from chiffon.run_records import runs

    return select(runs.c.events).where(runs.c.id == run_id)


def _decision(record: ApprovalRecord) -> DecisionRecord:
    return DecisionRecord(
        run_id=record.run_id, revision=record.revision, plan_hash=record.plan_hash,
        decision=record.decision, by=record.approver, channel=record.channel,
        feedback=record.feedback, at=record.decided_at,
        valid_until=record.expires_at if record.decision == "approve" else None,
    )  # fmt: skip
