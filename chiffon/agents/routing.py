"""What runs and the registry say to each other, in the orchestrator's process.

These never leave the process (an answer carries an ``ActorRef``), so they are dataclasses,
not protocol models. What they ask of agents on the runs' behalf (``CapacityQuery``,
``StepStatusQuery``) is protocol, and goes to local and remote agents alike.

A run asks ``Route`` for each step attempt; the registry answers ``Routed`` (the agent asked
and accepted) or ``NoCapacity`` with the reason, and then tells the run ``CapacityAvailable``
once an agent joins or reports capacity that might fit. While an attempt is out, the registry
tells its run ``AgentLost`` when the agent goes offline, and asks a restarted agent what
became of it (the ``StepStatusReport`` goes to the run). ``StepSettled`` ends that watch. A run
that gives up on an attempt has the registry tell its agent ``StepCancel`` (``CancelStep``).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence

from chiffon.actors import ActorRef
from chiffon.agents.capacity import Requirement
from chiffon.protocol import (
    CapacityOffer,
    Needs,
    Plan,
    ResourceSample,
    StepCancel,
    StepPreview,
    StepPreviewResult,
    StepStatusQuery,
)


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """Asked of the registry by a run: an agent for this step attempt, declaring every one of
    ``capabilities`` and with ``needs`` free (``chiffon.agents.capacity.requirement``). With
    ``watch``, a run that gets ``NoCapacity`` is told ``CapacityAvailable`` when capacity may
    have appeared."""

    run_id: uuid.UUID
    step_id: uuid.UUID
    attempt: int
    needs: Needs
    capabilities: frozenset[str] = frozenset()
    watch: bool = True
    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class Routed:
    """The registry's answer: ``agent`` (reached through ``ref``) accepted the step."""

    agent: str
    ref: ActorRef
    offer: CapacityOffer


@dataclasses.dataclass(frozen=True, slots=True)
class NoCapacity:
    """The registry's answer when no agent can take the step now, and why."""

    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class CapacityAvailable:
    """Told (once) to a run that got ``NoCapacity``: an agent joined or reported capacity that
    may fit. Journaled: the run resumes on it."""

    agent: str
    durability = "sync"


@dataclasses.dataclass(frozen=True, slots=True)
class AgentLost:
    """Told to a run with attempts out on an agent that went offline. Journaled: the run
    interrupts those attempts on it."""

    agent: str
    reason: str
    step_ids: tuple[uuid.UUID, ...]
    durability = "sync"


@dataclasses.dataclass(frozen=True, slots=True)
class CancelStep:
    """A run gave up on an attempt it had sent to ``agent``: the registry passes ``cancel``
    on as sent by the run — at once (an offline agent's queue keeps it), or when an agent it
    has not heard of yet announces itself."""

    agent: str
    cancel: StepCancel
    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class StepSettled:
    """A run has the outcome of an attempt: the registry stops watching it."""

    step_id: uuid.UUID
    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class QueryStep:
    """A run (resuming after a restart) asks what became of an attempt it had sent to
    ``agent``: the registry passes ``query`` on as sent by the run — at once, or when the
    agent announces itself, for up to ``wait_s`` seconds — and watches the attempt as if it
    had routed it. The agent answers the run with a ``StepStatusReport``."""

    agent: str
    query: StepStatusQuery
    wait_s: float
    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class Pick:
    """Asked of the registry: an online agent declaring ``capabilities``, fitting ``needs``
    if one does, without asking it (for a dry run). Answered ``Picked`` or ``NoCapacity``."""

    needs: Needs
    capabilities: frozenset[str] = frozenset()
    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class Picked:
    agent: str
    ref: ActorRef


@dataclasses.dataclass(frozen=True, slots=True)
class ListAgents:
    """Asked of the registry: every agent it knows, as ``AgentView``s."""

    durability = "transient"


@dataclasses.dataclass(frozen=True, slots=True)
class AgentView:
    """An agent as the registry knows it."""

    name: str
    kind: str
    online: bool
    capabilities: tuple[str, ...]
    resources: ResourceSample
    address: str


async def preview_through(
    registry: ActorRef,
    plan: Plan,
    requirement_of: Callable[[str, Sequence[str]], Requirement],
    *,
    timeout: float,
) -> tuple[str, ...]:
    """Each step's dry run, in order, from an online agent the registry picks for it (one
    that could take the step, by ``requirement_of(playbook, hosts)``): what
    ``PlanProposed.dry_run`` holds. A step no agent can preview gets the reason.

    Raises ``AskTimeout`` when one dry run takes longer than ``timeout`` seconds.
    """
    answers = []
    for step in plan.steps:
        wanted = requirement_of(step.playbook, step.hosts)
        picked = await registry.ask(Pick(wanted.needs, wanted.capabilities))
        if isinstance(picked, NoCapacity):
            answers.append(f"no dry run: {picked.reason}")
            continue
        preview = StepPreview(
            playbook=step.playbook, hosts=step.hosts, variables=dict(step.variables),
            digest=step.digest or None,
        )  # fmt: skip
        result: StepPreviewResult = await picked.ref.ask(preview, timeout=timeout)
        answers.append(result.text)
    return tuple(answers)
