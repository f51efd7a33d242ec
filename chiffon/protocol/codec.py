"""The codec: kind <-> model, and bytes <-> model. No fallback to older versions.

A frame is ``{"kind": ..., "v": ..., "body": {...}}`` as UTF-8 JSON. ``decode`` names the
problem in ``DecodeError`` (unknown kind, wrong version, invalid body, not JSON) so a consumer
can dead-letter the message with that reason.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from chiffon.errors import ChiffonError
from chiffon.protocol.agents import (
    AgentAnnounce,
    AgentGoodbye,
    AgentHeartbeat,
    AgentsDiscover,
    CapacityOffer,
    CapacityQuery,
    StepCancel,
    StepPreview,
    StepPreviewResult,
    StepStatusQuery,
    StepStatusReport,
)
from chiffon.protocol.base import WireModel
from chiffon.protocol.errors import ErrorBody
from chiffon.protocol.messages import (
    PlanDecision,
    PlanProposed,
    RunFinished,
    RunRequested,
    StepExecute,
    StepOutput,
    StepResult,
)

MESSAGE_MODELS: tuple[type[WireModel], ...] = (
    RunRequested,
    PlanProposed,
    PlanDecision,
    StepExecute,
    StepOutput,
    StepResult,
    RunFinished,
    ErrorBody,
    AgentAnnounce,
    AgentHeartbeat,
    AgentGoodbye,
    AgentsDiscover,
    CapacityQuery,
    CapacityOffer,
    StepPreview,
    StepPreviewResult,
    StepStatusQuery,
    StepStatusReport,
    StepCancel,
)
"""Every kind that travels as a message: a run's life in order, then the agents'."""

_BY_KIND: dict[str, type[WireModel]] = {model.kind: model for model in MESSAGE_MODELS}


class DecodeError(ChiffonError):
    """Raised by ``decode`` when bytes are not a message of a known kind and version.

    ``code`` is one of ``not_json``, ``not_a_frame``, ``unknown_kind``, ``wrong_version``,
    ``invalid_body``; the message says which field was wrong.
    """

    def __init__(self, code: str, sentence: str) -> None:
        super().__init__(sentence)
        self.code = code


def model_for(kind: str) -> type[WireModel]:
    """The model of ``kind``; raises ``DecodeError("unknown_kind")``."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise DecodeError("unknown_kind", f"unknown message kind {kind!r}") from None


def encode(message: WireModel) -> bytes:
    """A message as a frame of UTF-8 JSON bytes."""
    body = message.model_dump(mode="json")
    frame = {"kind": message.kind, "v": message.v, "body": body}
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()


def decode(data: bytes | str) -> WireModel:
    """A frame back to its model. Raises ``DecodeError`` naming what is wrong."""
    try:
        frame: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError("not_json", f"message is not UTF-8 JSON: {exc}") from None
    if not isinstance(frame, dict) or set(frame) != {"kind", "v", "body"}:
        raise DecodeError("not_a_frame", "message must be an object of kind, v and body")
    kind, version, body = frame["kind"], frame["v"], frame["body"]
    model = model_for(kind) if isinstance(kind, str) else None
    if model is None:
        raise DecodeError("unknown_kind", f"message kind must be a string, not {kind!r}")
    if version != model.v:
        raise DecodeError(
            "wrong_version", f"{kind} is version {model.v} here; the message has v={version!r}"
        )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise DecodeError("invalid_body", f"{kind}: {where}: {first['msg']}") from None
