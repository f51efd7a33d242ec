"""One model per message kind of a run's life: request, plan, decision, execution, result.

Kinds are dotted names (``run.requested``); each model's ``v`` is its version. The journal
stores every one of them; ``step.output`` lines are journaled in the background, every other
kind is committed before it is delivered.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field

from chiffon.protocol.base import WireModel
from chiffon.protocol.plan import Plan, VariableValue

PlannerChoice = Literal["auto", "catalog", "llm"]
Decision = Literal["approve", "reject", "modify", "expired"]
ApprovalChannel = Literal["terminal", "yes", "library", "api", "web", "timer"]
StepStatus = Literal["succeeded", "failed", "skipped", "cancelled", "interrupted"]
RunOutcome = Literal["succeeded", "failed", "rejected", "expired", "cancelled", "interrupted"]


class RunRequested(WireModel):
    """A plain-language request, as the human typed it."""

    kind = "run.requested"

    run_id: uuid.UUID
    request: str = Field(min_length=1, max_length=4000)
    requested_by: str = Field(min_length=1, max_length=200)
    planner: PlannerChoice = "auto"
    high_value: bool = False
    budget_usd: float = Field(default=0.50, ge=0.0)
    dry_run: bool = Field(
        default=True, description="Preview each step in Ansible's check mode before approval."
    )


class PlanProposed(WireModel):
    """A validated plan, shown to the approver. ``revision`` counts plans within the run."""

    kind = "plan.proposed"

    run_id: uuid.UUID
    revision: int = Field(ge=1)
    plan: Plan
    plan_hash: str
    expires_at: dt.datetime
    dry_run: tuple[str, ...] = Field(
        default=(),
        description="Per step, the check-mode diff (`ansible-playbook --check "
        "--diff`), or why there is none.",
    )


class PlanDecision(WireModel):
    """The approver's answer to one plan revision. ``approver`` comes from the session (the
    OS user in a terminal), never from the request or a model."""

    kind = "plan.decision"

    run_id: uuid.UUID
    plan_hash: str
    decision: Decision
    approver: str = Field(min_length=1, max_length=200)
    channel: ApprovalChannel
    feedback: str | None = Field(default=None, max_length=4000)


class StepExecute(WireModel):
    """Run one approved step. An agent runs nothing that does not carry the approval id and
    the plan hash the approval names.

    Each attempt has a step id of its own; ``run_id`` and ``position`` name the step across
    its attempts, so an agent can tell that attempt 2 supersedes an attempt 1 it still runs,
    and refuse an attempt older than one it has seen. Version 2: ``position`` is new."""

    kind = "step.execute"
    v = 2

    run_id: uuid.UUID
    step_id: uuid.UUID
    attempt: int = Field(ge=1)
    position: int = Field(
        ge=0,
        description="The step's place in the plan (0 = first): with run_id, the step across "
        "its attempts.",
    )
    playbook: str
    digest: str
    hosts: tuple[str, ...]
    variables: dict[str, VariableValue]
    approval_id: uuid.UUID
    plan_hash: str


class StepOutput(WireModel):
    """One Ansible event of a running step, secrets already redacted by the agent."""

    kind = "step.output"
    durability = "async"

    run_id: uuid.UUID
    step_id: uuid.UUID
    seq: int = Field(ge=0)
    event: str = Field(
        description="ansible-runner's event name, e.g. runner_on_ok; or a shell-check "
        "agent's probes_start, probe_ok, probe_failed, probe_waiting."
    )
    host: str | None = None
    task: str | None = None
    status: Literal["ok", "changed", "failed", "skipped", "unreachable", "info"] = "info"
    text: str = Field(default="", max_length=8192)


class HostStats(WireModel):
    """Ansible's play recap for one host."""

    kind = "host.stats"

    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


class StepFailure(WireModel):
    """Where a step failed, for post-mortems: the first failing host and task."""

    kind = "step.failure"

    host: str | None = None
    task: str | None = None
    error: str = Field(max_length=4000)
    output_tail: str = Field(default="", max_length=16384)


class StepResult(WireModel):
    """A step's outcome on the agent. ``interrupted``: the agent had started the attempt and
    stopped (or restarted) before it finished; the orchestrator gives the step a new attempt."""

    kind = "step.result"

    run_id: uuid.UUID
    step_id: uuid.UUID
    attempt: int = Field(ge=1)
    status: Literal["succeeded", "failed", "interrupted"]
    stats: dict[str, HostStats] = Field(default_factory=dict)
    seconds: float = Field(ge=0.0)
    failure: StepFailure | None = None
    left_for_you: tuple[str, ...] = Field(
        default=(),
        description="What the step did not do and left for a person, each with its command "
        "(a playbook says so with `set_stats: {data: {chiffon_left_for_you: [...]}}`).",
    )


class StepSummary(WireModel):
    """A step as the run's summary reports it."""

    kind = "step.summary"

    playbook: str
    status: str
    hosts: tuple[str, ...] = Field(description="The hosts the approved plan names.")
    stats: HostStats
    attempt: int = 1
    touched: tuple[str, ...] = Field(
        default=(), description="Every host Ansible's recap names: the hosts the step ran on."
    )
    left_for_you: tuple[str, ...] = Field(
        default=(), description="What the step left for a person to do (`StepResult`)."
    )


class RunFinished(WireModel):
    """A run reached a terminal state (or stopped, interrupted, waiting for a resume)."""

    kind = "run.finished"

    run_id: uuid.UUID
    status: RunOutcome
    steps: tuple[StepSummary, ...] = ()
    cost_usd: float = 0.0
    seconds: float = 0.0
    reason: str | None = None
