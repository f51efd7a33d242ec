"""A run as the application layer describes it, built from its records: what the page
templates are rendered from in the tests that need no server."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from chiffon.access import BrowserSession, Principal
from chiffon.agents.store import AgentRecord
from chiffon.audit.dead_letters import DeadLetterRecord
from chiffon.audit.records import LlmCallRecord, StepRecord, TimelineEvent
from chiffon.playbooks.store import Suggestion
from chiffon.protocol import HostStats
from chiffon.protocol.agents import GpuSample, ResourceSample
from chiffon.runs import (
    DecisionRecord,
    PendingApproval,
    PlannedStep,
    PlanRevision,
    RunDescription,
    RunEvent,
    RunSummary,
)
from chiffon.web.viewer import Viewer

RUN_ID = uuid.UUID("0aec4956-a643-40bd-bfb4-935858453e3e")
NOW = dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC)
DIFF = """--- before: /srv/uptime-kuma/compose.yml
+++ after: /srv/uptime-kuma/compose.yml
@@ -0,0 +1,3 @@
+services:
+  uptime-kuma:
+    image: louislam/uptime-kuma:1.23.16"""


def viewer(scope: Any = "approve") -> Viewer:
    return Viewer(
        Principal(user="ann", scope=scope, via="session"),
        BrowserSession("session-id", "ann", "the-csrf-token", NOW + dt.timedelta(hours=12)),
    )


def summary(status: str = "awaiting_approval", why: str | None = "awaiting approval") -> RunSummary:
    return RunSummary(
        id=RUN_ID, request="Set up nightly backups of the NAS", status=status,
        why_waiting=why, created_at=NOW, updated_at=NOW, requested_by="ann",
        services=("restic",), hosts=("nas",),
    )  # fmt: skip


def revision(number: int, feedback: str | None = None) -> PlanRevision:
    return PlanRevision(
        revision=number, plan_hash=f"sha256:{number:064x}",
        steps=(PlannedStep(playbook="backup", hosts=("nas",), reason="backups were asked for",
                           variables={"backup_time": "03:30", "restic_password": "***"}),),
        summary="Nightly restic backups of the NAS.", risk="medium", confidence=0.9,
        planner="catalog", feedback=feedback, dry_run=(DIFF,), created_at=NOW,
    )  # fmt: skip


def description(*, decided: bool = False) -> RunDescription:
    decisions: tuple[DecisionRecord, ...] = (
        DecisionRecord(run_id=RUN_ID, revision=1, plan_hash=revision(1).plan_hash,
                       decision="modify", by="bob", channel="terminal",
                       feedback="keep 14 daily snapshots", at=NOW),
    )  # fmt: skip
    if decided:
        decisions += (
            DecisionRecord(run_id=RUN_ID, revision=2, plan_hash=revision(2).plan_hash,
                           decision="approve", by="ann", channel="web", feedback=None, at=NOW),
        )  # fmt: skip
    step = StepRecord(
        id=uuid.uuid4(), position=1, attempt=1, playbook="backup", hosts=("nas",),
        variables={}, status="succeeded", agent="local", approval_id=None,
        stats={"nas": HostStats(ok=5, changed=2)}, reason=None, created_at=NOW,
        started_at=NOW, finished_at=NOW,
    )  # fmt: skip
    return RunDescription(
        summary=summary("running", None) if decided else summary(),
        revisions=(revision(1), revision(2, "keep 14 daily snapshots")),
        pending=None if decided else PendingApproval(
            revision=2, plan_hash=revision(2).plan_hash, expires_at=NOW + dt.timedelta(hours=1)
        ),
        decisions=decisions, steps=(step,) if decided else (), failures=(),
        transitions=(
            TimelineEvent(at=NOW, source="transition", entity="run", from_state="received",
                          to_state="planning"),
            TimelineEvent(at=NOW, source="message", kind="plan.proposed",
                          summary="plan revision 2 proposed"),
        ),
        model_calls=(
            LlmCallRecord(id=uuid.uuid4(), purpose="plan", model="ollama_chat/llama3.1",
                          route="local", ok=True, error=None, prompt_tokens=812,
                          completion_tokens=143, latency_ms=2100.0, cost_usd=0.0,
                          created_at=NOW),
        ),
        cost_usd=0.0, planner="catalog", high_value=False, budget_usd=0.5,
    )  # fmt: skip


def output(event_id: int, host: str, status: str, text: str, **data: Any) -> RunEvent:
    return RunEvent(
        id=event_id, run_id=RUN_ID, at=NOW, kind="step.output",
        data={"event": "runner_on_ok", "host": host, "task": "t", "status": status,
              "text": text, **data},
    )  # fmt: skip


def agents() -> list[AgentRecord]:
    sample = ResourceSample(
        cpu_count=8, cpu_percent=42.0, load_1m=1.5, memory_total_mb=32768,
        memory_available_mb=20480, sampled_at=NOW,
        gpus=(GpuSample(index=0, name="RTX 3060", utilisation_percent=10.0,
                        vram_total_mb=12288, vram_free_mb=7680),),
    )  # fmt: skip
    common: dict[str, Any] = {
        "version": "0.1.0", "capabilities": ("ansible",), "address": "x",
        "heartbeat_interval_s": 5.0, "announced_at": NOW, "last_heartbeat_at": NOW,
    }  # fmt: skip
    return [
        AgentRecord(name="desk-1", kind="desktop", status="online", resources=sample,
                    offline_at=None, offline_reason=None, **common),
        AgentRecord(name="infra-1", kind="infra", status="offline", resources=None,
                    offline_at=NOW, offline_reason="missed 2 heartbeats", **common),
    ]  # fmt: skip


def suggestions() -> list[Suggestion]:
    common: dict[str, Any] = {
        "created_at": NOW, "updated_at": NOW, "catalog": "/srv/catalog", "entry": "uptime-kuma",
        "rule": "image-latest", "source": "chiffon", "severity": "warning",
        "path": "playbooks/uptime-kuma.yml", "line": 12, "message": "image on latest",
        "why": "latest changes under you", "fix": "pin a version", "diff": DIFF,
        "fingerprint": "f", "run_id": None,
    }  # fmt: skip
    return [
        Suggestion(id=1, status="open", branch=None, commit=None, **common),
        Suggestion(id=2, status="accepted", branch="chiffon/suggestion-2", commit="abc1234def",
                   **common),
    ]  # fmt: skip


def dead_letters() -> list[DeadLetterRecord]:
    return [
        DeadLetterRecord(
            id=uuid.uuid4(), at=NOW, queue="chiffon.orchestrator.x", code="bad_signature",
            reason="the signature does not match", message_id=None, kind="step.result",
            sender="infra-1", user_id="infra-1", reported_by="orchestrator", routing_key="k",
            headers={}, body=b"{}",
            body_size=2,
        )
    ]  # fmt: skip
