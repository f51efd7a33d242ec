"""A run's output as the run page shows it: ANSI colours as classes, everything else escaped,
one line per event with its host and status."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from chiffon.audit.records import TimelineEvent
from chiffon.runs import RunEvent
from chiffon.web import ansi, output
from chiffon.web.panels import timeline_of


def event(kind: str, **data: Any) -> RunEvent:
    return RunEvent(id=7, run_id=uuid.uuid4(), at=dt.datetime.now(dt.UTC), kind=kind, data=data)


def test_sgr_colours_become_classes_and_a_reset_ends_them() -> None:
    text = "\x1b[0;32mok: [core]\x1b[0m then \x1b[1;31mfailed\x1b[0m"
    assert ansi.to_html(text) == (
        '<span class="fg32">ok: [core]</span> then <span class="b fg31">failed</span>'
    )


def test_markup_in_output_is_text_and_other_escape_sequences_are_dropped() -> None:
    assert ansi.to_html("<script>x</script>\x1b]0;title\x07\x1b[2J&") == (
        "&lt;script&gt;x&lt;/script&gt;&amp;"
    )
    assert ansi.plain("\x1b[33mchanged\x1b[0m") == "changed"


def test_a_result_line_carries_its_host_status_and_ansibles_colour() -> None:
    html = output.line_html(
        event("step.output", event="runner_on_ok", host="core", task="t", status="changed",
              text="changed: [core]")
    )  # fmt: skip
    assert html == (
        '<div class="line changed" data-event="7" data-host="core">'
        '<span class="where" title="core">core</span>'
        '<span><span class="fg33">changed: [core]</span></span></div>'
    )


def test_banners_and_the_runs_milestones_are_lines_of_their_own() -> None:
    banner = output.line_html(
        event("step.output", event="playbook_on_task_start", task="Install", text="TASK [Install]")
    )
    assert banner == '<div class="task" data-event="7">TASK [Install]</div>'
    started = event("step.started", position=0, total=2, playbook="uptime-kuma",
                    hosts=["core"], attempt=1, agent="local")  # fmt: skip
    assert output.line_text(started) == "── step 1/2 uptime-kuma on core by agent local"
    failed = output.line_html(event("run.finished", status="failed", reason="a task failed"))
    assert 'class="task milestone failed"' in failed
    assert output.line_html(event("decision", decision="approve")) == ""


def test_task_starts_and_notified_handlers_are_no_lines_as_in_ansibles_own_output() -> None:
    started = event("step.output", event="runner_on_start", host="core", status="info",
                    text="runner_on_start [core] [Install]")  # fmt: skip
    assert not output.is_line(started)
    assert output.line_html(started) == ""
    assert output.line_text(started) is None
    tail = output.Tail(10)
    tail.add(started)
    assert (tail.total, tail.last) == (0, 7)  # no line, but the stream resumes after it


def test_the_timeline_shows_each_message_once_and_counts_steps_from_1() -> None:
    at = dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC)
    decision = TimelineEvent(at=at, source="message", kind="plan.decision",
                             summary="approve by ann via web")  # fmt: skip
    shown = timeline_of([
        TimelineEvent(at=at, source="transition", entity="run", to_state="approved"),
        decision, decision,
        TimelineEvent(at=at, source="message", kind="capacity.request", summary='{"needs":{}}'),
        TimelineEvent(at=at, source="transition", entity="step 0 uptime-kuma a1",
                      to_state="running"),
        TimelineEvent(at=at, source="transition", entity="step 1 monitors a2", to_state="failed"),
    ])  # fmt: skip
    assert [(e.entity or e.summary) for e in shown] == [
        "run", "approve by ann via web", "step 1 uptime-kuma", "step 2 monitors (attempt 2)",
    ]  # fmt: skip
