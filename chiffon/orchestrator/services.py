"""What a run needs from the rest of the system, handed to it in one object by the assembly."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from chiffon.actors import ActorRef
from chiffon.catalog import Catalog
from chiffon.orchestrator.event_log import EventLog
from chiffon.orchestrator.store import RunRecord, RunStore
from chiffon.planning.planner import Planner
from chiffon.protocol import Plan, StepFailure
from chiffon.sealing import Sealer


class AuditSink(Protocol):
    """Where run milestones are recorded beyond the database (the git trail)."""

    async def milestone(
        self, run: RunRecord, milestone: str, files: Mapping[str, Any], subject: str
    ) -> None:
        """Record one milestone (approved, rejected, expired, finished, interrupted)."""
        ...


class FailureRecorder(Protocol):
    async def __call__(
        self,
        *,
        run_id: uuid.UUID,
        step_id: uuid.UUID,
        attempt: int,
        playbook: str,
        failure: StepFailure,
    ) -> Any: ...


@dataclasses.dataclass(slots=True)
class RunServices:
    """Everything a run actor uses; built once by ``chiffon.assembly``."""

    store: RunStore
    catalog: Catalog
    planner_for: Callable[[str, bool], Planner]
    """The planner for a request's choice (``auto``/``catalog``/``llm``) and high-value flag."""
    registry: ActorRef
    """The agents' registry (``chiffon.agents.registry``): routes each step attempt."""
    approval_ttl: dt.timedelta
    owner: str
    """host:pid:start of this process: the owner of the runs it drives."""
    run_cost: Callable[[uuid.UUID], Awaitable[float]]
    record_failure: FailureRecorder
    events: EventLog
    """Where the run tells the world (and hears decisions and cancels)."""
    preview: Callable[[Plan], Awaitable[tuple[str, ...]]] | None = None
    audit: AuditSink | None = None
    local_agents: frozenset[str] = frozenset({"local"})
    """Agents in this process: an attempt they had when a process died died with it."""
    capacity_wait_s: float = 600.0
    """How long a run stays paused for capacity before it fails."""
    step_max_attempts: int = 3
    """Attempts of a step interrupted by a lost (or restarted) agent before the run fails."""
    agent_status_wait_s: float = 30.0
    """How long a resumed run waits for an agent to say what became of an attempt."""
    route_timeout_s: float = 60.0
    """How long a run waits for the registry to find (and ask) an agent."""
    sealer: Sealer | None = None
    """Seals the secrets of requests and plans before they are stored (``chiffon.sealing``);
    ``None``: they are kept as they are."""
