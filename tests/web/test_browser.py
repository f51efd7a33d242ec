"""The dashboard in a real headless Chromium against a real ``chiffon serve`` on the machine's
PostgreSQL: logging in and out. Whole runs are in ``test_browser_runs.py``."""

from __future__ import annotations

import re
import secrets
import uuid

import pytest
from playwright.sync_api import expect

from tests.web.harness import PASSWORD, Browsers, Serve, free_port, log_in, refusals

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]


def user(serve: Serve, scope: str = "approve") -> str:
    return serve.add_user(f"{scope}-{secrets.token_hex(3)}", scope)


def test_a_browser_logs_in_comes_back_where_it_was_sent_from_and_logs_out(
    serve: Serve, browsers: Browsers
) -> None:
    name = user(serve, "read")
    page = browsers.page()
    page.goto(f"{serve.url}/agents")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#name", name)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    expect(page.locator(".notice.error")).to_have_text("Wrong user name or password.")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{serve.url}/agents")
    expect(page.locator("h1")).to_have_text("Agents")
    expect(page.locator("table")).to_contain_text("local")
    page.click("text=Log out")
    page.wait_for_url(f"{serve.url}/login")
    page.goto(f"{serve.url}/runs")
    page.wait_for_url(re.compile(r"/login\?next=/runs"))


def test_a_form_another_origin_makes_the_browser_post_is_refused_and_recorded(
    serve: Serve, browsers: Browsers
) -> None:
    page = browsers.page()
    log_in(page, serve.url, user(serve))
    run_id = str(uuid.uuid4())
    # Same site (same address, another port), so the strict cookie goes along: the Origin
    # check is what refuses it.
    evil = f"http://127.0.0.1:{free_port()}"
    attack = (
        f'<form id="f" method="post" action="{serve.url}/runs/{run_id}/decision">'
        '<input name="decision" value="approve"><input name="revision" value="1">'
        '<input name="plan_hash" value="sha256:00"><input name="csrf_token" value="guess">'
        '</form><script>document.getElementById("f").submit()</script>'
    )
    page.route(f"{evil}/**", lambda route: route.fulfill(body=attack, content_type="text/html"))
    with page.expect_response(f"**/runs/{run_id}/decision") as answer:
        page.goto(f"{evil}/prize")
    assert answer.value.status == 403
    refused = refusals(serve.dsn, run_id)
    assert [(r["code"], r["channel"]) for r in refused] == [("foreign_origin", "web")]
