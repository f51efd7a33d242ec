"""The run page's panels (status, decision, plan, steps, timeline), rendered from the run's
description for one viewer: the whole page at first, then again, out of band, whenever an
event changes them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from chiffon.audit.records import StepRecord
from chiffon.runs import RunDescription, RunHandle
from chiffon.web.templating import fragment
from chiffon.web.viewer import Viewer

PANELS = (
    "fragments/status.html",
    "fragments/decision.html",
    "fragments/plan.html",
    "fragments/steps.html",
    "fragments/timeline.html",
)


@dataclasses.dataclass(frozen=True, slots=True)
class StepView:
    """One step of a run with its attempts (the description lists attempts flat)."""

    position: int
    playbook: str
    hosts: tuple[str, ...]
    status: str
    attempts: tuple[StepRecord, ...]


def steps_of(records: Sequence[StepRecord]) -> list[StepView]:
    by_position: dict[int, list[StepRecord]] = {}
    for record in records:
        by_position.setdefault(record.position, []).append(record)
    views = []
    for position in sorted(by_position):
        attempts = sorted(by_position[position], key=lambda r: r.attempt)
        last = attempts[-1]
        views.append(StepView(position, last.playbook, last.hosts, last.status, tuple(attempts)))
    return views


@dataclasses.dataclass(frozen=True, slots=True)
class Panels:
    viewer: Viewer

    def context(self, description: RunDescription) -> dict[str, Any]:
        """What the run page's templates read."""
        return {
            "run": description.summary,
            "description": description,
            "pending": description.pending,
            "steps": steps_of(description.steps),
            "can_approve": self.viewer.may("approve"),
            "csrf": self.viewer.csrf_token,
        }

    async def state_html(self, handle: RunHandle) -> str:
        """Every panel, marked for an out-of-band swap."""
        context = self.context(await handle.describe())
        return "".join(fragment(name, oob=True, **context) for name in PANELS)
