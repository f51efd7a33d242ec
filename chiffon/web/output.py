"""A run's events as lines of the run page's log, in HTML, and as the raw text download.

Each ``step.output`` event is one Ansible event (a play or task banner, a result on a host);
the run's own milestones (a step starting or ending, a pause for capacity) are lines too, so
the log reads as the run happened. A line carries its event id, its host and its status, which
is what the page's filters (failed only, one host) select on.

The agents send each event's text without escape sequences; Ansible's colours come back from
the status (its palette: ok green, changed yellow, skipped cyan, failed red). Text that does
carry SGR sequences (another executor's output) keeps its own colours.
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from chiffon.runs import RunEvent
from chiffon.web import ansi

STATUS_COLOUR = {"ok": "fg32", "changed": "fg33", "skipped": "fg36", "failed": "fg31",
                 "unreachable": "fg31"}  # fmt: skip
BANNERS = frozenset({"playbook_on_play_start", "playbook_on_task_start", "playbook_on_stats",
                     "playbook_on_start", "playbook_on_handler_task_start"})  # fmt: skip
SHOWN = frozenset({"step.output", "step.started", "step.result", "run.paused", "run.resumed",
                   "run.finished"})  # fmt: skip
"""The kinds of event the log shows; the others change the page's state panels."""
UNSHOWN_OUTPUT = frozenset({"runner_on_start", "playbook_on_notify"})
"""Ansible events its own default output does not print either (a task starting on a host,
a handler notified): on the page and in the download they would double every task."""


class Tail:
    """The end of a run's output as the page starts with it: its last ``cap`` lines, how many
    there were, the last event id seen (where the live stream resumes) and the hosts named."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.lines: deque[str] = deque(maxlen=cap)
        self.total = 0
        self.last = 0
        self.hosts: set[str] = set()

    def add(self, event: RunEvent) -> None:
        self.last = event.id
        if is_line(event):
            self.lines.append(line_html(event))
            self.total += 1
        host = event.data.get("host") if event.kind == "step.output" else None
        if host:
            self.hosts.add(str(host))


def is_line(event: RunEvent) -> bool:
    """Whether ``event`` is a line of the log (and of the raw download)."""
    if event.kind == "step.output":
        return event.data.get("event") not in UNSHOWN_OUTPUT
    return event.kind in SHOWN


def line_html(event: RunEvent) -> str:
    """One event as one line of the log (``""`` for kinds the log does not show)."""
    if not is_line(event):
        return ""
    data = event.data
    if event.kind == "step.output":
        return _output(event.id, data)
    text = milestone(event.kind, data)
    if text is None:
        return ""
    status = _milestone_status(event.kind, data)
    return (
        f'<div class="task milestone {status}" data-event="{event.id}">'
        f"{html.escape(text, quote=False)}</div>"
    )


def lines_html(events: Iterable[RunEvent]) -> str:
    return "".join(line_html(e) for e in events)


def line_text(event: RunEvent) -> str | None:
    """One event as a line of the raw download (no markup, no colours); ``None`` for one
    that is no line of the log."""
    if not is_line(event):
        return None
    data = event.data
    if event.kind == "step.output":
        host = data.get("host")
        text = ansi.plain(str(data.get("text", "")))
        return f"{host:<16} {text}" if host else text
    return milestone(event.kind, data)


def milestone(kind: str, data: Mapping[str, Any]) -> str | None:
    """The run's own events in words, as the terminal prints them."""
    if kind == "step.started":
        agent = f" by agent {data['agent']}" if data.get("agent") else ""
        hosts = ", ".join(data.get("hosts", ()))
        attempt = f" (attempt {data['attempt']})" if int(data.get("attempt", 1)) > 1 else ""
        return (
            f"── step {int(data.get('position', 0)) + 1}/{data.get('total')} {data.get('playbook')}"
            f" on {hosts}{agent}{attempt}"
        )
    if kind == "step.result":
        return f"── step {data.get('status')} in {float(data.get('seconds', 0.0)):.1f} s"
    if kind == "run.paused":
        return f"── paused: {data.get('reason')}"
    if kind == "run.resumed":
        return f"── resumed on agent {data.get('agent')}"
    if kind == "run.finished":
        reason = f": {data['reason']}" if data.get("reason") else ""
        return f"── run {data.get('status')}{reason}"
    return None


def _milestone_status(kind: str, data: Mapping[str, Any]) -> str:
    status = str(data.get("status", ""))
    if kind in {"step.result", "run.finished"} and status not in {"succeeded", ""}:
        return "failed"
    return ""


def _output(event_id: int, data: Mapping[str, Any]) -> str:
    status = str(data.get("status", "info"))
    text = str(data.get("text", ""))
    if data.get("event") in BANNERS or (data.get("host") is None and status == "info"):
        return f'<div class="task" data-event="{event_id}">{ansi.to_html(text)}</div>'
    host = str(data.get("host") or "")
    body = ansi.to_html(text)
    colour = STATUS_COLOUR.get(status)
    if colour is not None and "\x1b[" not in text:
        body = f'<span class="{colour}">{body}</span>'
    host_attr = html.escape(host, quote=True)
    return (
        f'<div class="line {status}" data-event="{event_id}" data-host="{host_attr}">'
        f'<span class="where" title="{host_attr}">{html.escape(host, quote=False)}</span>'
        f"<span>{body}</span></div>"
    )
