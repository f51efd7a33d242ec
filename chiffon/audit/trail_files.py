"""A run's files in the git audit trail, laid out from what the database recorded.

``trail_files(await run_timeline(db, run_id), secret_variables=...)`` gives the mapping that
``GitTrail.commit_milestone`` writes: request.md, plan.json, approval.json, one file per step
attempt, summary.json. Values of variables the catalog marks secret are replaced by
``REDACTED`` in the plan and in every step, since the plans and steps tables hold what the
agent must run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from chiffon.audit.git_trail import FileContent, step_file
from chiffon.audit.records import FailureRecord, RunTimeline, StepRecord

REDACTED = "<redacted>"

SecretVariables = Mapping[str, Collection[str]]
"""Catalog entry id -> names of its variables declared ``secret``."""


def _redact(
    playbook: str, variables: Mapping[str, Any], secrets: SecretVariables
) -> dict[str, Any]:
    hidden = secrets.get(playbook, ())
    return {name: REDACTED if name in hidden else value for name, value in variables.items()}


def _request(timeline: RunTimeline) -> str:
    run = timeline.run
    quoted = "\n".join(f"> {line}" for line in run.request.splitlines() or [""])
    return (
        f"# Request\n\n{quoted}\n\n"
        f"- Run: {run.id}\n"
        f"- Requested by: {run.requested_by}\n"
        f"- Planner: {run.planner}\n"
        f"- High value: {'yes' if run.high_value else 'no'}\n"
        f"- Budget: ${run.budget_usd:.2f}\n"
        f"- Received: {run.created_at.isoformat()}\n"
    )


def _plan(timeline: RunTimeline, secrets: SecretVariables) -> dict[str, Any] | None:
    plan = timeline.plan
    if plan is None:
        return None
    body = dict(plan.plan)
    body["steps"] = [
        {
            **step,
            "variables": _redact(str(step.get("playbook")), step.get("variables") or {}, secrets),
        }
        for step in body.get("steps", ())
    ]
    return {
        "revision": plan.revision,
        "plan_hash": plan.plan_hash,
        "feedback": plan.feedback,
        "created_at": plan.created_at,
        "plan": body,
        "revisions": len(timeline.plans),
    }


def _approval(timeline: RunTimeline) -> dict[str, Any] | None:
    current = timeline.approval
    if current is None:
        return None
    return {
        **current.model_dump(mode="json"),
        "decisions": [a.model_dump(mode="json") for a in timeline.approvals],
    }


def _failure(step: StepRecord, failures: tuple[FailureRecord, ...]) -> dict[str, Any] | None:
    for failure in failures:
        if failure.step_id == step.id:
            return failure.model_dump(
                mode="json", include={"host", "task", "error", "output_tail", "created_at"}
            )
    return None


def _step(step: StepRecord, timeline: RunTimeline, secrets: SecretVariables) -> dict[str, Any]:
    return {
        **step.model_dump(mode="json", exclude={"variables"}),
        "variables": _redact(step.playbook, step.variables, secrets),
        "failure": _failure(step, timeline.failures),
    }


def _summary(timeline: RunTimeline) -> dict[str, Any]:
    run = timeline.run
    end = run.finished_at or run.updated_at
    return {
        "run_id": run.id,
        "status": run.status,
        "reason": run.reason,
        "services": list(run.services),
        "plan_hash": run.plan_hash,
        "cost_usd": run.cost_usd,
        "llm_calls": len(timeline.llm_calls),
        "llm_cost_usd": timeline.llm_cost_usd,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "seconds": round((end - run.created_at).total_seconds(), 3),
        "steps": [
            {
                "position": s.position,
                "attempt": s.attempt,
                "playbook": s.playbook,
                "status": s.status,
                "hosts": list(s.hosts),
                "hosts_run": list(s.hosts_run),
                "changed": s.changed,
            }
            for s in timeline.steps
        ],
        "failures": len(timeline.failures),
    }


def trail_files(
    timeline: RunTimeline, *, secret_variables: SecretVariables | None = None
) -> dict[str, FileContent]:
    """The files of a run's directory in the trail, as far as the run has got: no plan.json
    before a plan, no approval.json before a decision."""
    secrets = secret_variables or {}
    files: dict[str, FileContent] = {"request.md": _request(timeline)}
    if (plan := _plan(timeline, secrets)) is not None:
        files["plan.json"] = plan
    if (approval := _approval(timeline)) is not None:
        files["approval.json"] = approval
    for step in timeline.steps:
        files[step_file(step.position + 1, step.playbook, step.attempt)] = _step(
            step, timeline, secrets
        )
    files["summary.json"] = _summary(timeline)
    return files
