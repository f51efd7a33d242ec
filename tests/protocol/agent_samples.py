"""One sample of each agent message kind, for the codec's round-trip tests."""

from __future__ import annotations

import datetime as dt
import uuid

from chiffon.protocol import (
    AgentAnnounce,
    AgentGoodbye,
    AgentHeartbeat,
    AgentsDiscover,
    CapacityOffer,
    CapacityQuery,
    GpuSample,
    Needs,
    ResourceSample,
    StepCancel,
    StepPreview,
    StepPreviewResult,
    StepResult,
    StepStatusQuery,
    StepStatusReport,
    WireModel,
)

RUN = uuid.uuid4()
STEP = uuid.uuid4()
SAMPLE = ResourceSample(
    cpu_count=8,
    cpu_percent=12.5,
    load_1m=0.7,
    memory_total_mb=32000,
    memory_available_mb=20000,
    gpus=(
        GpuSample(
            index=0,
            name="RTX 4090",
            utilisation_percent=3.0,
            vram_total_mb=24564,
            vram_free_mb=20000,
        ),
    ),
    sampled_at=dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC),
)
NO_GPU = SAMPLE.model_copy(update={"gpus": (), "gpu_note": "no NVIDIA driver"})
NEEDS = Needs(cpu_cores=1.0, memory_mb=512, gpu_vram_mb=4096)

AGENT_SAMPLES: list[WireModel] = [
    AgentAnnounce(
        name="desk-1",
        agent_kind="desktop",
        capabilities=("ansible", "gpu"),
        version="0.1.0",
        resources=SAMPLE,
        heartbeat_interval_s=5.0,
        started_at=dt.datetime(2026, 11, 24, 11, 0, tzinfo=dt.UTC),
    ),
    AgentHeartbeat(name="desk-1", seq=7, resources=NO_GPU, running=(STEP,)),
    AgentGoodbye(name="desk-1", reason="stopped by SIGTERM"),
    AgentsDiscover(registry="registry"),
    CapacityQuery(run_id=RUN, step_id=STEP, needs=NEEDS),
    CapacityOffer(
        name="desk-1",
        accepted=False,
        reason="only 2048 MB of VRAM free",
        available=NEEDS,
        resources=SAMPLE,
    ),
    StepPreview(playbook="ollama", hosts=("desk",), variables={"model": "llama3.1"}),
    StepPreviewResult(text="no changes"),
    StepStatusQuery(run_id=RUN, step_id=STEP, attempt=2),
    StepCancel(run_id=RUN, step_id=STEP, attempt=1, reason="lost its agent: desk-1 said goodbye"),
    StepStatusReport(
        name="desk-1",
        run_id=RUN,
        step_id=STEP,
        attempt=2,
        state="finished",
        result=StepResult(run_id=RUN, step_id=STEP, attempt=2, status="interrupted", seconds=0.0),
    ),
]
