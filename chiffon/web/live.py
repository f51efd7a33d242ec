"""The run page's live part: the run's events as server-sent events carrying HTML.

The page's ``<div id="live" sse-connect=…>`` receives two event names:

- ``output``: one line of the log (a ``step.output``, or a milestone such as a step starting),
  appended to ``#log`` by ``chiffon.js``, many at a time; its SSE id is the run event's id,
  so a reconnecting browser resumes exactly after the last line it holds (``Last-Event-ID``,
  or ``?after=`` when htmx opens a new ``EventSource``);
- ``state``: the page's panels (status, decision, plan, steps, timeline) rendered again and
  swapped out of band, after anything that changes them: a decision made in another browser
  or at a terminal shows up here. A ``state`` that comes with a line is sent first and without
  an id: a stream cut between the two resends both, never loses the line.

The framing, the heartbeat, the final ``end`` event and the stop on shutdown are the API's
(``chiffon.api.sse``): both faces stream the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from chiffon.runs import RunEvent, RunHandle
from chiffon.web import output
from chiffon.web.panels import Panels


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """One server-sent event: its name, its HTML, its id (``None``: keep the last one)."""

    kind: str
    html: str
    id: int | None = None


def encode(message: Message) -> bytes:
    """SSE framing; every line of the HTML is a ``data:`` field of its own (the browser joins
    them with newlines, so a ``<pre>`` keeps its lines)."""
    head = f"id: {message.id}\n" if message.id is not None else ""
    data = "".join(f"data: {line}\n" for line in message.html.split("\n"))
    return f"{head}event: {message.kind}\n{data}\n".encode()


async def messages(handle: RunHandle, panels: Panels, after: int | None) -> AsyncIterator[Message]:
    """The run's events after ``after`` as the page's messages; ends after the run's last."""
    async for event in handle.events(after=after):
        line = output.line_html(event) if output.is_line(event) else ""
        state = await panels.state_html(handle) if _changes_state(event) else ""
        if state and line:
            yield Message("state", state)
            yield Message("output", line, event.id)
        elif state:
            yield Message("state", state, event.id)
        elif line:
            yield Message("output", line, event.id)


def _changes_state(event: RunEvent) -> bool:
    return event.kind != "step.output"
