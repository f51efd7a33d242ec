"""The codec: every kind round-trips; anything else is refused with a reason naming it."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest

from chiffon.protocol import (
    DecodeError,
    ErrorBody,
    HostStats,
    Plan,
    PlanDecision,
    PlanProposed,
    PlanStep,
    RunFinished,
    RunRequested,
    StepExecute,
    StepFailure,
    StepOutput,
    StepResult,
    StepSummary,
    WireModel,
    decode,
    encode,
    plan_hash,
)
from chiffon.protocol.codec import MESSAGE_MODELS
from chiffon.protocol.schema import schemas

from .agent_samples import AGENT_SAMPLES

RUN = uuid.uuid4()
STEP = uuid.uuid4()
PLAN = Plan(
    request="Deploy Uptime Kuma",
    steps=(PlanStep(playbook="uptime-kuma", hosts=("core",), variables={"kuma_port": 3001}),),
    planner="catalog",
    confidence=0.9,
)
SAMPLES: list[WireModel] = [
    RunRequested(run_id=RUN, request="Deploy Uptime Kuma", requested_by="ada"),
    PlanProposed(
        run_id=RUN,
        revision=1,
        plan=PLAN,
        plan_hash=plan_hash(PLAN),
        expires_at=dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
        dry_run=("--- a\n+++ b",),
    ),
    PlanDecision(
        run_id=RUN,
        plan_hash=plan_hash(PLAN),
        decision="modify",
        approver="ada",
        channel="terminal",
        feedback="use port 3002",
    ),
    StepExecute(
        run_id=RUN,
        step_id=STEP,
        attempt=1,
        position=0,
        playbook="uptime-kuma",
        digest="sha256:ab",
        hosts=("core",),
        variables={"kuma_port": 3001},
        approval_id=uuid.uuid4(),
        plan_hash=plan_hash(PLAN),
    ),
    StepOutput(run_id=RUN, step_id=STEP, seq=3, event="runner_on_ok", host="core", status="ok"),
    StepResult(
        run_id=RUN,
        step_id=STEP,
        attempt=1,
        status="failed",
        seconds=2.5,
        stats={"core": HostStats(ok=3, failed=1)},
        failure=StepFailure(host="core", task="Write compose file", error="boom"),
    ),
    RunFinished(
        run_id=RUN,
        status="succeeded",
        cost_usd=0.0,
        seconds=12.0,
        steps=(
            StepSummary(
                playbook="uptime-kuma", status="succeeded", hosts=("core",), stats=HostStats(ok=4)
            ),
        ),
    ),
    ErrorBody(code="invalid_body", sentence="step.execute: hosts: missing", message_id="x"),
    *AGENT_SAMPLES,
]


def test_every_message_kind_has_a_sample() -> None:
    assert {type(m) for m in SAMPLES} == set(MESSAGE_MODELS)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.kind)
def test_a_message_survives_encoding_unchanged(message: WireModel) -> None:
    assert decode(encode(message)) == message


@pytest.mark.parametrize(
    ("data", "code", "match"),
    [
        (b"\xff\xfe", "not_json", "not UTF-8 JSON"),
        (b"[1, 2]", "not_a_frame", "object of kind, v and body"),
        (b'{"kind": "run.deleted", "v": 1, "body": {}}', "unknown_kind", "'run.deleted'"),
        (b'{"kind": "run.requested", "v": 0, "body": {}}', "wrong_version", "v=0"),
        (b'{"kind": "step.execute", "v": 1, "body": {}}', "wrong_version", "version 2 here"),
        (
            json.dumps({"kind": "step.execute", "v": 2, "body": {"run_id": str(RUN)}}).encode(),
            "invalid_body",
            "step.execute: step_id: Field required",
        ),
        (
            json.dumps(
                {
                    "kind": "run.requested",
                    "v": 1,
                    "body": {
                        "run_id": str(RUN),
                        "request": "x",
                        "requested_by": "a",
                        "shell": "rm -rf /",
                    },
                }
            ).encode(),
            "invalid_body",
            "shell: Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_frame_is_refused_with_its_reason(data: bytes, code: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match) as caught:
        decode(data)
    assert caught.value.code == code


def test_the_plan_hash_changes_with_what_runs_and_only_with_it() -> None:
    reworded = PLAN.model_copy(update={"summary": "Uptime Kuma, please", "confidence": 0.5})
    other_port = PLAN.model_copy(
        update={"steps": (PLAN.steps[0].model_copy(update={"variables": {"kuma_port": 3002}}),)}
    )
    assert plan_hash(reworded) == plan_hash(PLAN)
    assert plan_hash(other_port) != plan_hash(PLAN)
    assert plan_hash(PLAN).startswith("sha256:")


def test_the_checked_in_json_schemas_match_the_models() -> None:
    """docs/protocol/ is generated: `uv run python -m chiffon.protocol.schema docs/protocol`."""
    directory = Path(__file__).resolve().parents[2] / "docs" / "protocol"
    on_disk = {p.name: p.read_text() for p in directory.glob("*.json")}
    assert on_disk == schemas()
