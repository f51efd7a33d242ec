"""The wire protocol: one pydantic model per message kind, versioned, with a codec.

Knows nothing of actors: the runtime carries these models as message bodies, the journal
stores them as JSON, and the bridge (issue 4) maps them to AMQP. Every model is frozen and
refuses unknown fields, so a message means exactly what its schema says.
"""

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
    "DecodeError",
    "ErrorBody",
    "HostStats",
    "Plan",
    "PlanDecision",
    "PlanProposed",
    "PlanStep",
    "RunFinished",
    "RunRequested",
    "StepExecute",
    "StepFailure",
    "StepOutput",
    "StepResult",
    "StepSummary",
    "WireModel",
    "decode",
    "encode",
    "model_for",
    "plan_hash",
]
