"""The one interface both planners implement, and what a planning attempt returns."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Protocol

from chiffon.protocol import Plan


@dataclasses.dataclass(frozen=True, slots=True)
class PlanRequest:
    """What a planner is asked: the request text, and on a modify round the human's feedback
    on the previous plan."""

    text: str
    run_id: uuid.UUID | None = None
    feedback: str | None = None
    previous: Plan | None = None
    high_value: bool = False
    budget_usd: float = 0.50


@dataclasses.dataclass(frozen=True, slots=True)
class NeedsClarification:
    """The planner would have to guess: the request is ambiguous or matches nothing.

    ``question`` is one sentence to show the human; ``candidates`` are catalog ids that came
    close (empty when nothing matched).
    """

    question: str
    candidates: tuple[str, ...] = ()


PlanOutcome = Plan | NeedsClarification


class Planner(Protocol):
    """Turns a request into a plan over a catalog. Implementations: ``CatalogPlanner``
    (deterministic, offline) and ``LLMPlanner`` (LiteLLM).

    A returned ``Plan`` is not yet trusted: the caller validates it against the catalog and
    inventory (``chiffon.planning.validation.validate_plan``) before anyone sees it.
    """

    name: str

    async def plan(self, request: PlanRequest) -> PlanOutcome:
        """Plan ``request``. Raises ``PlanningFailed`` when no plan can be produced."""
        ...
