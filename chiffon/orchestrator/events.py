"""What a run tells the world: ``RunEvent``, one model for every event, stored in
``run_events`` with a per-run sequence number so any watcher, in any process, can replay a
run from any point and follow it live.

Kinds and their ``data``:

=================  ========================================================================
``plan.ready``     ``revision``, ``plan``, ``plan_hash``: a validated plan, before its dry run
``plan.question``  ``question``, ``candidates``: the planner needs an answer (see ``modify``)
``plan.proposed``  a ``PlanProposed``: the plan awaiting a decision, with its dry run
``decision``       ``revision``, ``plan_hash``, ``decision``, ``by``, ``channel``,
                   ``feedback``, ``at``: who decided what (``expired``: nobody, in time)
``step.started``   ``step_id``, ``position``, ``attempt``, ``playbook``, ``hosts``,
                   ``total``, ``agent``
``step.output``    a ``StepOutput``: one Ansible event (a task on a host)
``step.result``    a ``StepResult`` (an interrupted attempt included)
``step.status``    a ``StepStatusReport``: what an agent said became of an attempt
``run.paused``     ``reason``, ``wait_s``: no agent can take the next step now
``run.resumed``    ``agent``: one with the capacity appeared
``run.finished``   a ``RunFinished``: the last event of a run
=================  ========================================================================
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from chiffon.protocol import Plan, PlanProposed, RunFinished

FINISHED = "run.finished"


class RunEvent(BaseModel):
    """One thing a run told the world. ``id`` counts the run's events from 1, in the order
    they happened; it is stored, so ``events(after=id)`` resumes exactly after it."""

    model_config = ConfigDict(frozen=True)

    id: int
    run_id: uuid.UUID
    at: dt.datetime
    kind: str
    data: dict[str, Any]

    def proposal(self) -> PlanProposed:
        """A ``plan.proposed`` event's proposal."""
        return PlanProposed.model_validate(self.data)

    def plan(self) -> Plan:
        """A ``plan.ready`` or ``plan.proposed`` event's plan."""
        return Plan.model_validate(self.data["plan"])

    def finished(self) -> RunFinished:
        """A ``run.finished`` event's summary."""
        return RunFinished.model_validate(self.data)
