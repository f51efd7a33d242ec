"""The approvals inbox, live: its table sent again (``inbox`` server-sent events) whenever a
run's event may have changed which plans wait for a decision — a plan proposed, a decision
from any channel (a terminal, another browser, the expiry timer), a cancel, an end.

Events of every run reach this process through its ``EventLog``: those it writes, and the
notices PostgreSQL relays from other processes (``chiffon approve`` in a terminal). A notice
lost with a dropped connection costs at most ``BACKSTOP_S``: the table is read again then
anyway, and sent only when it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from chiffon.orchestrator.event_log import EventLog, Notice
from chiffon.runs import RunEvent
from chiffon.web.live import Message

BACKSTOP_S = 30.0
QUIET = frozenset({"step.output", "step.started", "step.result"})
"""Kinds that never change the inbox: a run executing has been decided already."""


async def messages(log: EventLog, render: Callable[[], Awaitable[str]]) -> AsyncIterator[Message]:
    """The inbox as rendered by ``render`` at once, then again after each change."""
    changed = asyncio.Event()

    def heard(what: RunEvent | Notice) -> None:
        if what.kind not in QUIET:
            changed.set()

    unwatch = log.watch_any(heard)
    try:
        last = None
        while True:
            # Cleared before reading: a change made while the table is read is read again.
            changed.clear()
            html = await render()
            if html != last:
                yield Message("inbox", html)
                last = html
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), BACKSTOP_S if log.listening else 2.0)
    finally:
        unwatch()
