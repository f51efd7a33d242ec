"""The run page's panels (status, decision, plan, steps, timeline), rendered from the run's
description for one viewer: the whole page at first, then again, out of band, whenever an
event changes them."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from chiffon.audit.records import StepRecord, TimelineEvent
from chiffon.runs import RunDescription, RunHandle
from chiffon.web.templating import fragment
from chiffon.web.viewer import Viewer

FINISHED = frozenset({"succeeded", "failed", "rejected", "expired", "cancelled"})
"""States a run does not leave (an interrupted run may be resumed)."""

PANELS = (
    "fragments/head_actions.html",
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


TIMELINE_MESSAGES = frozenset({"run.requested", "plan.decision", "step.result", "run.finished",
                               "error"})  # fmt: skip
"""The messages the run page's timeline shows beside the transitions: the others (a step sent
to an agent, a capacity request) say again what a transition says, or say it in JSON."""
_STEP = re.compile(r"^step (\d+) (.+) a(\d+)$")


def timeline_of(events: Sequence[TimelineEvent]) -> list[TimelineEvent]:
    """A run's timeline as people read it: transitions, and the messages that add to them,
    each once (a decision is journaled to the orchestrator and to the run), steps counted
    from 1 as everywhere on the page."""
    shown: list[TimelineEvent] = []
    seen: set[tuple[str | None, str]] = set()
    for event in events:
        if event.source == "message":
            if event.kind not in TIMELINE_MESSAGES or (event.kind, event.summary) in seen:
                continue
            seen.add((event.kind, event.summary))
        elif event.entity and (step := _STEP.match(event.entity)):
            position, playbook, attempt = int(step[1]) + 1, step[2], int(step[3])
            again = f" (attempt {attempt})" if attempt > 1 else ""
            event = event.model_copy(update={"entity": f"step {position} {playbook}{again}"})
        shown.append(event)
    return shown


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
            "can_run": self.viewer.may("run"),
            "finished": description.summary.status in FINISHED,
            "timeline": timeline_of(description.transitions),
            "csrf": self.viewer.csrf_token,
        }

    async def state_html(self, handle: RunHandle) -> str:
        """Every panel, marked for an out-of-band swap."""
        context = self.context(await handle.describe())
        return "".join(fragment(name, oob=True, **context) for name in PANELS)
