"""``WireModel``: the base of every protocol model, so no model repeats its configuration."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

Durability = Literal["sync", "async", "transient"]


class WireModel(BaseModel):
    """A message body on the wire: frozen, unknown fields refused, ``kind`` and ``v`` declared
    once per class.

    ``durability`` tells the runtime how to journal the kind (``chiffon.actors.Durability``
    accepts the same strings): ``sync`` bodies are committed before delivery.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    kind: ClassVar[str]
    v: ClassVar[int] = 1
    durability: ClassVar[Durability] = "sync"
