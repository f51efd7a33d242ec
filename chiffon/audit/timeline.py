"""A run's timeline: its journaled messages and state transitions, merged in time order, each
with one short line a person can read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from chiffon.audit.records import StepRecord, TimelineEvent
from chiffon.sealing import shown

SUMMARY_WIDTH = 120


def _clip(text: str, width: int = SUMMARY_WIDTH) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _hosts(value: Any) -> str:
    return ", ".join(str(h) for h in value) if isinstance(value, list | tuple) else str(value)


def _changed(stats: Any) -> str:
    if not isinstance(stats, Mapping) or not stats:
        return ""
    parts = []
    for host, counts in sorted(stats.items()):
        counts = counts if isinstance(counts, Mapping) else {}
        parts.append(f"{host} changed={counts.get('changed', 0)} failed={counts.get('failed', 0)}")
    return "; " + ", ".join(parts)


def summarize(kind: str, body: Any) -> str:
    """One line saying what a message of ``kind`` with ``body`` says; unknown kinds get their
    body as compact JSON, clipped."""
    b: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    get = b.get
    match kind:
        case "run.requested":
            text = f"{shown(str(get('request', '')))!r} by {get('requested_by', '?')}"
            if get("planner"):
                text += f", planner {get('planner')}"
        case "plan.proposed":
            plan = get("plan") or {}
            steps = [str(s.get("playbook", "?")) for s in plan.get("steps", ())]
            text = f"revision {get('revision', '?')}: {len(steps)} step(s) {', '.join(steps)}"
            if get("plan_hash"):
                text += f" ({str(get('plan_hash'))[:19]})"
        case "plan.decision":
            text = f"{get('decision', '?')} by {get('approver', '?')} via {get('channel', '?')}"
            if get("feedback"):
                text += f": {get('feedback')}"
        case "step.execute":
            text = (
                f"{get('playbook', '?')} on {_hosts(get('hosts', ()))}, "
                f"attempt {get('attempt', '?')}"
            )
        case "step.output":
            text = f"{get('host') or '-'} {get('task') or get('event', '')}: {get('status', '')}"
            if get("text"):
                text += f" {get('text')}"
        case "step.result":
            text = f"{get('status', '?')} in {float(get('seconds') or 0):.1f} s"
            text += _changed(get("stats"))
            failure = get("failure")
            if isinstance(failure, Mapping) and failure.get("error"):
                text += f"; {failure.get('error')}"
        case "run.finished":
            text = (
                f"{get('status', '?')}, ${float(get('cost_usd') or 0):.4f}, "
                f"{float(get('seconds') or 0):.1f} s"
            )
            if get("reason"):
                text += f": {get('reason')}"
        case "error":
            text = f"{get('code', '?')}: {get('sentence', '')}"
        case _:
            rest = {k: v for k, v in b.items() if k != "run_id"} if b else body
            text = json.dumps(rest, sort_keys=True, separators=(",", ":"), default=str)
    return _clip(text)


def step_label(step: StepRecord) -> str:
    """``step 1 deploy-kuma a2``: how a step is named in a timeline."""
    return f"step {step.position + 1} {step.playbook} a{step.attempt}"


def merge(
    messages: Iterable[Mapping[str, Any]],
    transitions: Iterable[Mapping[str, Any]],
    steps: Iterable[StepRecord],
) -> list[TimelineEvent]:
    """Messages (rows of ``messages``) and transitions (rows of ``transitions``) as one list
    ordered by time. A transition commits with the message that caused it, so at equal times
    the message comes first; transitions of one entity keep their sequence order."""
    labels = {str(step.id): step_label(step) for step in steps}
    keyed: list[tuple[Any, int, int, TimelineEvent]] = []
    for row in messages:
        event = TimelineEvent(
            at=row["created_at"],
            source="message",
            message_id=row["id"],
            kind=row["kind"],
            sender=row["sender"],
            recipient=row["recipient"],
            summary=summarize(row["kind"], row["body"]),
        )
        keyed.append((row["created_at"], 0, 0, event))
    for row in transitions:
        entity = "run" if row["entity_kind"] == "run" else labels.get(row["entity_id"])
        entity = entity or f"{row['entity_kind']} {row['entity_id']}"
        arrow = f"{row['from_state'] or '∅'} → {row['to_state']}"
        event = TimelineEvent(
            at=row["at"],
            source="transition",
            message_id=row["message_id"],
            entity=entity,
            from_state=row["from_state"],
            to_state=row["to_state"],
            reason=row["reason"],
            summary=_clip(f"{arrow}: {row['reason']}" if row["reason"] else arrow),
        )
        keyed.append((row["at"], 1, int(row["seq"]), event))
    keyed.sort(key=lambda item: item[:3])
    return [event for *_, event in keyed]
