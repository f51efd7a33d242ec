"""Planning's errors, one class per condition."""

from __future__ import annotations

from chiffon.errors import ChiffonError


class InvalidPlan(ChiffonError):
    """Raised by ``validate_plan`` when a plan names an unknown playbook, host or variable,
    or a variable of the wrong type. ``reasons`` lists every problem found, one sentence
    each; such a plan is never shown for approval and never executed."""

    code = "invalid_plan"

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("the plan is invalid: " + "; ".join(reasons))
        self.reasons = reasons


class PlanningFailed(ChiffonError):
    """Raised when a planner could not produce a valid plan (a model that kept answering
    invalid plans after the repair round, an unreachable model with no fallback, a budget
    spent). The message says why."""

    code = "planning_failed"


class UnusablePlan(PlanningFailed):
    """Raised by the LLM planner when the model's answer was still not a valid plan after the
    repair round (invalid JSON, an unknown playbook, host or variable). The run ends
    ``rejected``, like any invalid plan: it was never shown for approval."""

    code = "unusable_plan"
