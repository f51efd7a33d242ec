"""The wire protocol: one pydantic model per message kind, versioned, with a codec.

Knows nothing of actors: the runtime carries these models as message bodies, the journal
stores them as JSON, and the bridge maps them to AMQP. Every model is frozen and
refuses unknown fields, so a message means exactly what its schema says.
"""

from chiffon.protocol.agents import (
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
    StepStatusQuery,
    StepStatusReport,
)
from chiffon.protocol.base import WireModel
from chiffon.protocol.codec import DecodeError, decode, encode, model_for
from chiffon.protocol.errors import ErrorBody
from chiffon.protocol.messages import (
    HostStats,
    PlanDecision,
    PlanProposed,
    RunFinished,
    RunRequested,
    StepExecute,
    StepFailure,
    StepOutput,
    StepResult,
    StepSummary,
)
from chiffon.protocol.plan import Plan, PlanStep, plan_hash

__all__ = [
    "AgentAnnounce",
    "AgentGoodbye",
    "AgentHeartbeat",
    "AgentsDiscover",
    "CapacityOffer",
    "CapacityQuery",
    "DecodeError",
    "ErrorBody",
    "GpuSample",
    "HostStats",
    "Needs",
    "Plan",
    "PlanDecision",
    "PlanProposed",
    "PlanStep",
    "ResourceSample",
    "RunFinished",
    "RunRequested",
    "StepCancel",
    "StepExecute",
    "StepFailure",
    "StepOutput",
    "StepPreview",
    "StepPreviewResult",
    "StepResult",
    "StepStatusQuery",
    "StepStatusReport",
    "StepSummary",
    "WireModel",
    "decode",
    "encode",
    "model_for",
    "plan_hash",
]
