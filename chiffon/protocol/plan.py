"""A plan: catalog playbooks to run, on which inventory hosts, with which variables.

A plan names catalog entries by id and never carries commands: what runs is the catalog's
playbook file, found by id on the agent. ``plan_hash`` is what an approval approves; any
change to steps, hosts or variables changes it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field

from chiffon.protocol.base import WireModel

Scalar = str | int | float | bool
VariableValue = Scalar | list[Scalar]
Risk = Literal["low", "medium", "high"]


class PlanStep(WireModel):
    """One playbook run: a catalog id, its target hosts, the variables it is given."""

    kind = "plan.step"

    playbook: str = Field(min_length=1, max_length=100, description="Catalog entry id.")
    hosts: tuple[str, ...] = Field(min_length=1, description="Inventory hosts or groups.")
    variables: dict[str, VariableValue] = Field(
        default_factory=dict, description="Declared variables of the entry, typed."
    )
    reason: str = Field(default="", max_length=500, description="Why this step is in the plan.")
    digest: str = Field(
        default="",
        description="sha256 of the playbook's files when the plan was validated; the agent "
        "refuses to run a playbook whose files no longer match.",
    )


class Plan(WireModel):
    """What the planner proposes and a human approves."""

    kind = "plan"

    request: str = Field(min_length=1, max_length=4000)
    steps: tuple[PlanStep, ...] = Field(min_length=1, max_length=20)
    summary: str = Field(default="", max_length=1000)
    planner: str = Field(description="`catalog`, or `llm:<model>`.")
    confidence: float = Field(ge=0.0, le=1.0)
    risk: Risk = "low"


def plan_hash(plan: Plan) -> str:
    """The canonical hash of what a plan would execute: ``sha256:<hex>``.

    Canonical means sorted keys, no whitespace, and only the fields that change what runs
    (each step's playbook, hosts, variables and digest): rewording the summary does not
    need a new approval; any change to what runs does.
    """
    steps = [
        {
            "playbook": s.playbook,
            "hosts": list(s.hosts),
            "variables": s.variables,
            "digest": s.digest,
        }
        for s in plan.steps
    ]
    text = json.dumps({"v": 1, "steps": steps}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
