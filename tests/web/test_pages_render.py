"""The run page rendered from a description (no server): what a reviewer must see before
deciding, and what the live stream sends."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from chiffon.web import live, output
from chiffon.web.panels import PANELS
from chiffon.web.run_pages import run_page_context
from chiffon.web.templating import fragment, render
from tests.web import samples


def request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [],
                    "query_string": b""})  # fmt: skip


def run_page(*, decided: bool = False, scope: str = "approve", events: int = 3) -> str:
    viewer = samples.viewer(scope)
    tail = output.Tail(2)
    for n in range(1, events + 1):
        tail.add(samples.output(n, "nas", "ok", f"ok: [nas] {n}"))
    context = run_page_context(viewer, samples.description(decided=decided), tail)
    response = render(request(), "run.html", viewer=viewer, title="Run", **context)
    return bytes(response.body).decode()


def test_a_plan_awaiting_a_decision_shows_what_will_change_and_binds_the_decision_to_it() -> None:
    page = run_page()
    assert "Decision needed on revision 2" in page
    assert page.count('name="revision" value="2"') == 3  # approve, reject, modify
    assert page.count(f'name="plan_hash" value="{samples.revision(2).plan_hash}"') == 3
    assert page.count('name="csrf_token" value="the-csrf-token"') >= 4  # the forms, log out
    assert '<span class="add">+    image: louislam/uptime-kuma:1.23.16</span>' in page
    assert "restic_password" in page
    assert 'class="secret"' in page
    assert "***" not in page
    assert "Made from the feedback: “keep 14 daily snapshots”" in page
    assert "Earlier revisions (1)" in page
    assert "ollama_chat/llama3.1" in page


def test_a_reader_sees_the_plan_but_no_decision_buttons() -> None:
    page = run_page(scope="read")
    assert "Decision needed on revision 2" in page
    assert 'value="approve"' not in page
    assert "needs the approve scope" in page


def test_a_decided_plan_has_no_buttons_and_says_who_decided() -> None:
    page = run_page(decided=True)
    assert "Decision needed" not in page
    assert 'value="approve"' not in page
    assert re.search(r"revision 2</td><td>ann <span class=\"muted\">via web", page)


def test_the_page_starts_with_the_last_lines_and_resumes_after_the_last_event() -> None:
    page = run_page(events=5)
    assert 'data-last-event="5"' in page
    assert "3 earlier lines not shown here" in page
    assert re.findall(r'data-event="(\d+)"', page) == ["4", "5"]
    assert 'sse-connect="/runs/0aec4956-a643-40bd-bfb4-935858453e3e/live"' in page


def test_a_state_update_swaps_every_panel_out_of_band_and_keeps_the_diffs_lines() -> None:
    context = run_page_context(samples.viewer(), samples.description(), output.Tail(1))
    html = "".join(fragment(name, oob=True, **context) for name in PANELS)
    assert html.count('hx-swap-oob="true"') == len(PANELS)
    framed = live.encode(live.Message("state", html)).decode()
    assert framed.startswith("event: state\ndata: ")
    assert framed.endswith("\n\n")
    body = framed.removeprefix("event: state\n").removesuffix("\n\n")
    assert all(line.startswith("data: ") for line in body.split("\n"))
    assert "\n".join(line.removeprefix("data: ") for line in body.split("\n")) == html
    line = live.encode(live.Message("output", "<div>x</div>", 9)).decode()
    assert line == "id: 9\nevent: output\ndata: <div>x</div>\n\n"


def page(template: str, **context: Any) -> str:
    response = render(request(), template, viewer=samples.viewer("admin"), title="t", **context)
    return bytes(response.body).decode()


def test_the_agents_page_shows_each_agents_state_and_its_machines_room() -> None:
    html = page("agents.html", agents=samples.agents())
    assert html.count('class="pill online"') == 1
    assert html.count('class="pill offline"') == 1
    assert "missed 2 heartbeats" in html
    assert '<meter min="0" max="1" low="0.7" high="0.85" optimum="0.2" value="0.420">' in html
    assert "7.5 of 12.0 GB free" in html  # VRAM
    assert "no sample yet" in html


def test_suggestions_show_their_diff_and_only_open_ones_can_be_decided() -> None:
    html = page("suggestions.html", suggestions=samples.suggestions(), can_admin=True)
    assert html.count('action="/suggestions/1/accept"') == 1
    assert 'action="/suggestions/2/accept"' not in html
    assert '<span class="add">+    image: louislam/uptime-kuma:1.23.16</span>' in html
    assert "chiffon/suggestion-2" in html


def test_dead_letters_say_why_each_was_refused() -> None:
    html = page("dead_letters.html", letters=samples.dead_letters())
    assert "bad_signature" in html
    assert "the signature does not match" in html
