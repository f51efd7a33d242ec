"""Which actor the running task belongs to: read on every send to fill in the sender and
the correlation and causation ids, so a send from a handler needs no explicit context."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chiffon.actors.cell import Cell

current_cell: contextvars.ContextVar[Cell | None] = contextvars.ContextVar(
    "chiffon_current_actor", default=None
)
