"""The agents' messages: presence (announce, heartbeat, goodbye, discovery), capacity, previews
and status of step attempts.

An agent announces itself to the orchestrator's registry when it starts and whenever it is
asked to (``agents.discover``, broadcast by a registry that starts after it), then sends a
heartbeat every ``heartbeat_interval_s`` with a fresh ``ResourceSample``; it is marked offline
after missed heartbeats. Before a step that needs resources is dispatched, the registry asks
the agent (``capacity.query`` → ``capacity.offer``). An orchestrator that restarts asks an
agent what became of an attempt it had dispatched (``step.status`` → ``step.status.report``),
and one that gives up on an attempt tells its agent to stop it (``step.cancel``).
Every answer is a model of its own: answers cross the wire like any message.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from chiffon.protocol.base import WireModel
from chiffon.protocol.messages import StepResult
from chiffon.protocol.plan import VariableValue

StepState = Literal["running", "finished", "unknown"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
_KIND = r"^[a-z][a-z0-9-]{0,62}$"
_CAPABILITY = r"^[a-z][a-z0-9-]{0,62}(:[A-Za-z0-9][A-Za-z0-9._-]{0,252})?$"


class GpuSample(WireModel):
    """One GPU as NVML reports it."""

    kind = "gpu.sample"

    index: int = Field(ge=0)
    name: str = Field(max_length=200)
    utilisation_percent: float = Field(ge=0.0, le=100.0)
    vram_total_mb: int = Field(ge=0)
    vram_free_mb: int = Field(ge=0)


class ResourceSample(WireModel):
    """What a machine has, measured at ``sampled_at``: CPU, load, memory, GPUs.

    ``gpus`` is empty when there are no GPU figures; ``gpu_note`` then says why (no NVIDIA
    driver, no GPU).
    """

    kind = "resource.sample"

    cpu_count: int = Field(ge=1)
    cpu_percent: float = Field(ge=0.0, le=100.0)
    load_1m: float = Field(ge=0.0)
    memory_total_mb: int = Field(ge=0)
    memory_available_mb: int = Field(ge=0)
    gpus: tuple[GpuSample, ...] = ()
    gpu_note: str | None = Field(default=None, max_length=500)
    sampled_at: AwareDatetime

    @property
    def vram_free_mb(self) -> int:
        """The most free VRAM on any one GPU: a step's model is loaded on one GPU."""
        return max((gpu.vram_free_mb for gpu in self.gpus), default=0)


class Needs(WireModel):
    """What a step needs from the machine that runs it (a catalog entry's ``resources``)."""

    kind = "needs"

    cpu_cores: float = Field(default=0.0, ge=0.0)
    memory_mb: int = Field(default=0, ge=0)
    gpu_vram_mb: int = Field(default=0, ge=0)


class AgentAnnounce(WireModel):
    """An agent says who it is and what it has. The ref to reach it is the message's sender."""

    kind = "agent.announce"

    name: str = Field(pattern=_NAME)
    agent_kind: str = Field(
        pattern=_KIND, description="Its kind, e.g. `infra`, `desktop`, `shell-check`."
    )
    capabilities: tuple[Annotated[str, Field(pattern=_CAPABILITY)], ...] = Field(
        max_length=256,
        description="What it declares it can do: its executor (`ansible`, `shell-check`), "
        "`gpu` for a desktop, `host:<name>` for each host an executor that works on its own "
        "machine answers to. A step goes only to an agent declaring every capability it needs.",
    )
    version: str = Field(max_length=100)
    resources: ResourceSample
    heartbeat_interval_s: float = Field(gt=0.0, le=3600.0)
    started_at: AwareDatetime = Field(
        description="When this agent process started: a new value means it restarted (and "
        "the attempts it was running are to be asked after)."
    )


class AgentHeartbeat(WireModel):
    """The agent is alive; its latest sample and the step attempts it runs."""

    kind = "agent.heartbeat"
    durability = "async"

    name: str = Field(pattern=_NAME)
    seq: int = Field(ge=0)
    resources: ResourceSample
    running: tuple[uuid.UUID, ...] = Field(default=(), description="Step ids it is running.")


class AgentGoodbye(WireModel):
    """The agent stops: it is offline at once, not after missed heartbeats."""

    kind = "agent.goodbye"

    name: str = Field(pattern=_NAME)
    reason: str = Field(default="stopped", max_length=500)


class AgentsDiscover(WireModel):
    """A registry asks every agent that hears it to announce itself (sent when the registry
    starts, and to an agent it hears a heartbeat from without an announcement)."""

    kind = "agents.discover"
    durability = "async"

    registry: str = Field(default="registry", max_length=200, description="Who asks.")


class CapacityQuery(WireModel):
    """Could the agent take this step now? Asked before a dispatch."""

    kind = "capacity.query"
    durability = "async"

    run_id: uuid.UUID
    step_id: uuid.UUID
    needs: Needs


class CapacityOffer(WireModel):
    """The agent's answer to a ``CapacityQuery``: accepted (the capacity is held for the step
    for a short while), or refused with the reason. ``available`` is what it had left before
    this step, after what its running and held steps reserve; ``resources`` the live sample."""

    kind = "capacity.offer"
    durability = "async"

    name: str = Field(pattern=_NAME)
    accepted: bool
    reason: str | None = Field(default=None, max_length=1000)
    available: Needs
    resources: ResourceSample


class StepPreview(WireModel):
    """Ask an agent for a step's dry run (``ansible-playbook --check --diff``). ``digest``,
    when given, must match the playbook's files."""

    kind = "step.preview"
    durability = "async"

    playbook: str = Field(min_length=1, max_length=100)
    hosts: tuple[str, ...]
    variables: dict[str, VariableValue] = Field(default_factory=dict)
    digest: str | None = None


class StepPreviewResult(WireModel):
    """A step's check-mode diff, ``no changes``, or why there is no dry run."""

    kind = "step.preview.result"
    durability = "async"

    text: str = Field(max_length=65536)
    refused: bool = Field(default=False, description="The agent would refuse to run the step.")


class StepStatusQuery(WireModel):
    """What became of this attempt? The agent answers with a ``StepStatusReport`` (to an
    asker, or told back to the sender) and, while the attempt runs, tells its result to
    whoever asked last."""

    kind = "step.status"

    run_id: uuid.UUID
    step_id: uuid.UUID
    attempt: int = Field(ge=1)


class StepStatusReport(WireModel):
    """``running``: the agent runs the attempt and will tell its result; ``finished``: its
    ``result``; ``unknown``: the agent never started it (or has forgotten it)."""

    kind = "step.status.report"

    name: str = Field(pattern=_NAME)
    run_id: uuid.UUID
    step_id: uuid.UUID
    attempt: int = Field(ge=1)
    state: StepState
    result: StepResult | None = None
    reason: str | None = Field(default=None, max_length=1000)


class StepCancel(WireModel):
    """The orchestrator gave up on this attempt (its agent was lost, or never said what became
    of it) and has given, or will give, the step a new attempt: stop it if it still runs. The
    agent records a stopped attempt ``interrupted`` with ``reason`` and tells that result to
    the attempt's recipient; an attempt it does not run is left as it is. Sent to the agent
    the attempt went to, ahead of any later ``step.execute``: a cut-off agent finds it in its
    queue when it comes back."""

    kind = "step.cancel"

    run_id: uuid.UUID
    step_id: uuid.UUID
    attempt: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=2000)


def utc_now() -> dt.datetime:
    """Now, timezone-aware (what ``sampled_at`` wants)."""
    return dt.datetime.now(dt.UTC)
