"""What the audit queries return: typed, frozen records that the CLI's tables and ``--json``
(``model_dump(mode="json")``) both use, so the two outputs can never disagree."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from chiffon.protocol import HostStats


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def host_stats(raw: Mapping[str, Any] | None) -> dict[str, HostStats]:
    """A step's ``stats`` column as ``{host: HostStats}``; counters Ansible reports beyond
    ok/changed/failed/unreachable/skipped (rescued, ignored) are left out. Hosts come sorted:
    jsonb keeps its keys in an order of its own."""
    known = HostStats.model_fields.keys()
    return {
        host: HostStats(**{k: int(v) for k, v in (counts or {}).items() if k in known})
        for host, counts in sorted((raw or {}).items())
    }


class RunSummary(_Record):
    """One line of ``chiffon audit runs``."""

    id: uuid.UUID
    request: str
    requested_by: str
    status: str
    planner: str
    services: tuple[str, ...]
    cost_usd: float
    plan_hash: str | None
    reason: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


class Run(RunSummary):
    """A run's row, in full."""

    version: int
    high_value: bool
    budget_usd: float
    revision: int
    owner: str | None
    updated_at: dt.datetime


class PlanRecord(_Record):
    """One plan revision of a run."""

    revision: int
    plan: dict[str, Any]
    plan_hash: str
    feedback: str | None
    created_at: dt.datetime


class ApprovalRecord(_Record):
    """A decision on a plan: who, through what channel, on which plan hash."""

    id: uuid.UUID
    plan_hash: str
    decision: str
    approver: str
    channel: str
    feedback: str | None
    decided_at: dt.datetime
    expires_at: dt.datetime
    message_id: uuid.UUID | None


class StepRecord(_Record):
    """One attempt of one planned step, with Ansible's per-host recap."""

    id: uuid.UUID
    position: int
    attempt: int
    playbook: str
    hosts: tuple[str, ...]
    variables: dict[str, Any]
    status: str
    agent: str | None
    approval_id: uuid.UUID | None
    stats: dict[str, HostStats]
    reason: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def changed(self) -> int:
        return sum(s.changed for s in self.stats.values())

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented use
    @property
    def hosts_run(self) -> tuple[str, ...]:
        """The hosts Ansible's recap names for this attempt: the hosts it ran on."""
        return tuple(self.stats)

    @property
    def outside_plan(self) -> tuple[str, ...]:
        """Hosts the attempt ran on that its approved step does not name (none, always:
        every run is limited to the plan's hosts; the audit shows it)."""
        return tuple(h for h in self.stats if h not in self.hosts)


class FailureRecord(_Record):
    """Where and why a step failed: the post-mortem's starting point."""

    id: uuid.UUID
    run_id: uuid.UUID
    step_id: uuid.UUID | None
    attempt: int | None
    playbook: str | None
    host: str | None
    task: str | None
    error: str
    output_tail: str
    created_at: dt.datetime


class LlmCallRecord(_Record):
    """One model call made for a run."""

    id: uuid.UUID
    purpose: str
    model: str
    route: str
    ok: bool
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    cost_usd: float
    created_at: dt.datetime


class TimelineEvent(_Record):
    """A journaled message or a state transition, as one line of a run's timeline.

    ``source`` says which. A message has ``kind``, ``sender`` and ``recipient``; a
    transition has ``entity`` (``run`` or ``step <position> <playbook> a<attempt>``),
    ``from_state``, ``to_state`` and ``reason``. ``message_id`` is the message itself, or the
    message that caused the transition. ``summary`` is one short line for people.
    """

    at: dt.datetime
    source: Literal["message", "transition"]
    message_id: uuid.UUID | None = None
    kind: str | None = None
    sender: str | None = None
    recipient: str | None = None
    entity: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    reason: str | None = None
    summary: str = ""


class RunTimeline(_Record):
    """Everything recorded about one run (``chiffon audit show``)."""

    run: Run
    plans: tuple[PlanRecord, ...]
    approvals: tuple[ApprovalRecord, ...]
    steps: tuple[StepRecord, ...]
    failures: tuple[FailureRecord, ...]
    llm_calls: tuple[LlmCallRecord, ...]
    llm_cost_usd: float = Field(description="The sum of the run's model calls' cost.")
    events: tuple[TimelineEvent, ...] = Field(
        description="Messages and transitions, merged in time order."
    )
    output_events: int = Field(
        description="step.output messages of the run, left out of `events` unless asked for."
    )

    @property
    def plan(self) -> PlanRecord | None:
        """The latest plan revision."""
        return self.plans[-1] if self.plans else None

    @property
    def approval(self) -> ApprovalRecord | None:
        """The decision on the run's current plan (the latest decision when none matches)."""
        for approval in reversed(self.approvals):
            if approval.plan_hash == self.run.plan_hash:
                return approval
        return self.approvals[-1] if self.approvals else None


class StepChange(_Record):
    """What one step attempt did to hosts: its status and changed count per host."""

    position: int
    attempt: int
    playbook: str
    status: str
    hosts: tuple[str, ...]
    changed: dict[str, int]
    finished_at: dt.datetime | None


class ServiceChange(_Record):
    """A run that touched a service, with its steps (``chiffon audit changes``)."""

    run_id: uuid.UUID
    request: str
    status: str
    services: tuple[str, ...]
    created_at: dt.datetime
    finished_at: dt.datetime | None
    steps: tuple[StepChange, ...]

    @property
    def changed(self) -> int:
        return sum(sum(s.changed.values()) for s in self.steps)
