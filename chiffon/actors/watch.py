"""Death watch: the notice a watcher receives when a watched actor stops."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chiffon.actors.ref import LocalRef


@dataclasses.dataclass(frozen=True, slots=True)
class Terminated:
    """Sent to every watcher of ``ref`` once its actor has stopped.

    ``cause`` is the exception that stopped it (a failure, an escalation), or ``None`` for a
    requested stop or shutdown. Handle it like any message: ``@handler`` on ``Terminated``.
    A watcher that is itself stopping when the notice comes does not get it.
    """

    ref: LocalRef
    cause: BaseException | None = None
