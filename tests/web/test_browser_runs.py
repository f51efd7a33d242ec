"""The dashboard over whole runs, in a real headless Chromium against a real ``chiffon serve``
(the machine's PostgreSQL, local agents running Ansible against this machine, the example
homelab): plan, diff, approve and watch; two browsers on one approval; modify; reject; a run
paused for capacity; ``kill -9`` of the server while a page watches."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.harness import (
    KUMA,
    RUN_S,
    Browsers,
    Serve,
    awaiting_decision,
    log_in,
    refusals,
    shown_events,
    submit,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]
RUN_MS = RUN_S * 1000


def user(serve: Serve, scope: str = "approve") -> str:
    return serve.add_user(f"{scope}-{secrets.token_hex(3)}", scope)


def held_events(page: Page) -> list[int]:
    """The event ids of the lines the page's log holds, in page order."""
    ids: list[int] = page.eval_on_selector_all(
        "#log [data-event]", "nodes => nodes.map(n => Number(n.dataset.event))"
    )
    return ids


def raw_lines(page: Page, url: str, run_id: str) -> list[str]:
    answer = page.request.get(f"{url}/runs/{run_id}/output.txt")
    assert answer.ok, answer.text()
    return answer.text().splitlines()


def test_a_request_is_planned_previewed_approved_and_watched_to_its_success(
    serve: Serve, browsers: Browsers
) -> None:
    page = browsers.page()
    name = user(serve)
    log_in(page, serve.url, name)
    run_id = submit(page, serve.url, KUMA)

    awaiting_decision(page)
    steps = page.locator("#plan ol.steps > li")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("uptime-kuma")
    expect(steps.nth(1)).to_contain_text("uptime-kuma-monitors")
    expect(steps.nth(0).locator(".host")).to_have_text(["core"])
    expect(page.locator("#plan pre.diff").first).to_be_visible()
    expect(page.locator("#live-state")).to_have_text("live")

    with page.expect_navigation() as approved:
        page.click("button[value=approve]")
    # The last event the page was rendered with: lines after it came over the stream.
    served = re.search(r'data-last-event="(\d+)"', approved.value.text() if approved.value else "")
    assert served, "the run page names no last event"
    loaded = int(served.group(1))
    expect(page.locator("#run-status")).to_contain_text("succeeded", timeout=RUN_MS)
    expect(page.locator("#live-state")).to_have_text("finished")

    held = held_events(page)
    assert any(event > loaded for event in held), "no line arrived after the page loaded"
    assert held == sorted(set(held)), "lines out of order or twice"
    assert held == list(shown_events(serve.dsn, run_id)), "a gap in the output"
    assert raw_lines(page, serve.url, run_id)[0].startswith("── step 1/2 uptime-kuma")
    expect(page.locator("#log .line.changed .fg33").first).to_be_visible()
    expect(page.locator("#decision")).to_contain_text(name)
    expect(page.locator("#decision button[value=approve]")).to_have_count(0)
    expect(page.locator("#decision button.approve")).to_be_disabled()

    page.check("#failed-only")
    expect(page.locator("#log .line:visible")).to_have_count(0)
    page.uncheck("#failed-only")
    expect(page.locator("#log .line:visible").first).to_be_visible()


def test_a_decision_in_one_browser_shows_live_in_another_whose_stale_approval_is_refused(
    serve: Serve, browsers: Browsers
) -> None:
    ann, bob = user(serve), user(serve)
    first = browsers.page()
    log_in(first, serve.url, ann)
    run_id = submit(first, serve.url, "Deploy Pi-hole", dry_run=False)
    awaiting_decision(first)

    watching = browsers.page()
    log_in(watching, serve.url, bob)
    watching.goto(f"{serve.url}/runs/{run_id}")
    expect(watching.locator("#live-state")).to_have_text("live")
    # A page loaded without JavaScript keeps its form: bob's approval comes too late.
    stale = browsers.open(javascript=False).new_page()
    log_in(stale, serve.url, bob)
    stale.goto(f"{serve.url}/runs/{run_id}")
    expect(stale.locator("button[value=approve]")).to_be_enabled()

    first.click("button[value=approve]")
    expect(watching.locator("#decision")).to_contain_text(ann)
    expect(watching.locator("#decision button[value=approve]")).to_have_count(0)

    with stale.expect_response(f"**/runs/{run_id}/decision") as answer:
        stale.click("button[value=approve]")
    assert answer.value.status == 409
    expect(stale.locator(".notice.error")).to_contain_text("Not recorded")
    refused = refusals(serve.dsn, run_id)
    assert [(r["user_name"], r["channel"]) for r in refused] == [(bob, "web")]
    assert refused[0]["code"] in {"already_decided", "not_awaiting_approval"}


def test_the_inbox_and_the_run_page_follow_a_decision_made_at_a_terminal(
    serve: Serve, browsers: Browsers
) -> None:
    inbox = browsers.page()
    log_in(inbox, serve.url, user(serve))
    inbox.goto(f"{serve.url}/approvals")
    page = browsers.page()
    log_in(page, serve.url, user(serve))
    run_id = submit(page, serve.url, "Deploy Pi-hole", dry_run=False)
    awaiting_decision(page)
    row = inbox.locator(f"#approvals-list tr[data-run='{run_id}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Deploy Pi-hole")
    expect(inbox.locator("nav #waiting-count .count")).to_be_visible()

    decided = serve.chiffon("reject", run_id, "--reason", "not this week")
    assert "rejected" in decided.stdout
    expect(row).to_have_count(0)
    expect(page.locator("#run-status")).to_contain_text("rejected")
    expect(page.locator("#decision")).to_contain_text("terminal")
    expect(page.locator("#decision form")).to_have_count(0)


def test_modify_with_feedback_makes_revision_2_which_needs_its_own_approval(
    serve: Serve, browsers: Browsers
) -> None:
    page = browsers.page()
    name = user(serve)
    log_in(page, serve.url, name)
    submit(page, serve.url, "Deploy Grafana", dry_run=False)
    awaiting_decision(page)
    page.fill("#feedback", "put it on the core host instead")
    page.click("button[value=modify]")

    awaiting_decision(page, revision=2)
    expect(page.locator("#plan h2")).to_contain_text("revision 2")
    expect(page.locator("#decision input[name=revision]").first).to_have_value("2")
    expect(page.locator("#decision")).to_contain_text("modify")
    page.click("button[value=reject]")
    expect(page.locator("#run-status")).to_contain_text("rejected")
    decided = page.locator("#decision tbody tr")
    expect(decided).to_have_count(2)
    expect(decided.nth(1)).to_contain_text("revision 2")


def test_a_rejected_plan_ends_the_run_and_leaves_nothing_to_decide(
    serve: Serve, browsers: Browsers
) -> None:
    page = browsers.page()
    name = user(serve)
    log_in(page, serve.url, name)
    submit(page, serve.url, "Set up nightly backups of the NAS", dry_run=False)
    awaiting_decision(page)
    # The repository's password is a declared secret: masked on the page.
    expect(page.locator("#plan .secret")).to_have_count(1)
    expect(page.locator("#plan")).not_to_contain_text("change-me")
    page.click("button[value=reject]")
    expect(page.locator("#run-status")).to_contain_text("rejected")
    expect(page.locator("#decision")).to_contain_text(name)
    expect(page.locator("#decision form")).to_have_count(0)


def test_a_run_paused_for_capacity_says_why_it_waits(serve: Serve, browsers: Browsers) -> None:
    page = browsers.page()
    log_in(page, serve.url, user(serve))
    run_id = submit(page, serve.url, "Deploy Ollama", dry_run=False)
    awaiting_decision(page)
    page.click("button[value=approve]")
    expect(page.locator("#run-status")).to_contain_text("paused", timeout=RUN_MS)
    why = page.locator("#why-waiting").inner_text()
    assert re.search(r"gpu|VRAM", why, re.IGNORECASE), why
    page.goto(f"{serve.url}/runs?status=paused")
    expect(page.locator(f"tr[data-run='{run_id}'] .why")).to_have_text(why)
    page.goto(f"{serve.url}/runs/{run_id}")
    page.click("text=Cancel run")
    expect(page.locator("#run-status")).to_contain_text("cancelled", timeout=RUN_MS)


@pytest.fixture
def own_serve(machine_dsn: str, tmp_path: Path) -> Iterator[Serve]:
    """A server of this test's own: it is killed."""
    server = Serve(tmp_path, machine_dsn)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_page_watching_a_run_reconnects_after_kill_9_and_misses_nothing(
    own_serve: Serve, browsers: Browsers
) -> None:
    """Killed twice: while the plan awaits its decision (the restarted server drives the run
    it took over when it is approved) and while the run's output streams (the restarted
    server resumes it; the page's log goes on after the last line it held)."""
    serve = own_serve
    page = browsers.page()
    log_in(page, serve.url, user(serve))
    run_id = submit(page, serve.url, KUMA, dry_run=False)
    awaiting_decision(page)
    expect(page.locator("#live-state")).to_have_text("live")

    serve.kill()
    expect(page.locator("#live-state")).to_have_text("reconnecting…")
    serve.start()
    expect(page.locator("#live-state")).to_have_text("live", timeout=RUN_MS)

    page.click("button[value=approve]")
    # A line of Ansible's own (a result on a host): the playbook is running.
    expect(page.locator("#log .line").first).to_be_attached(timeout=RUN_MS)
    serve.kill()
    expect(page.locator("#live-state")).to_have_text("reconnecting…")
    before = held_events(page)
    serve.start()
    expect(page.locator("#live-state")).to_have_text("live", timeout=RUN_MS)

    expect(page.locator("#run-status")).to_contain_text("succeeded", timeout=RUN_MS)
    expect(page.locator("#live-state")).to_have_text("finished")
    expect(page.locator("#timeline")).to_contain_text("interrupted")
    held = held_events(page)
    assert held[: len(before)] == before, "lines held before the kill were lost or replaced"
    assert len(held) > len(before), "no line arrived after the restart"
    assert held == sorted(set(held)), "lines out of order or twice"
    stored = shown_events(serve.dsn, run_id)
    missing = {i: k for i, k in stored.items() if i not in held}
    assert not missing, f"a gap in the output: {missing}, held {held}"
    assert held == list(stored), f"lines the run never wrote: {set(held) - set(stored)}"
