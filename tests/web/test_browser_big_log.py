"""A run with a big log, in a real headless Chromium against a real ``chiffon serve``: the page
holds a bounded number of lines however many arrive (the raw download has them all), follows
the end in tail mode, and keeps up with a burst of thousands of lines.

The run's output is written by this test as another process would write it: through the
``EventLog``, into the machine's PostgreSQL, its notices relayed to the server by LISTEN.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import uuid
from collections.abc import Coroutine
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chiffon.journal.database import PostgresDatabase
from chiffon.journal.postgres import create_pool
from chiffon.orchestrator.event_log import EventLog
from chiffon.orchestrator.events import FINISHED
from chiffon.orchestrator.store import RunStore
from chiffon.ownership import this_process
from tests.web.harness import Browsers, Serve, log_in
from tests.web.test_browser_runs import held_events

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]

CAP = 1000
BEFORE = 3000
DURING = 9000
BATCH = 500


def output(n: int) -> dict[str, object]:
    failed = n % 1000 == 0
    return {
        "event": "runner_on_failed" if failed else "runner_on_ok", "host": "core",
        "task": "Print", "status": "failed" if failed else "ok",
        "text": f"{'fatal' if failed else 'ok'}: [core] => line {n} " + "x" * 80,
    }  # fmt: skip


async def write(dsn: str, run_id: uuid.UUID, first: int, count: int, *, create: bool) -> int:
    """Lines ``first`` .. ``first + count - 1`` of the run's output, ``BATCH`` a commit; with
    ``create``, the run first (driven by this process: no server takes it over). Returns the
    last event's id."""
    pool = await create_pool(dsn, size=1)
    try:
        database = PostgresDatabase(pool)
        store, log = RunStore(database), EventLog(database)
        if create:
            await store.create_run(
                run_id, request="Print a very long log", requested_by="big-log",
                planner="catalog", high_value=False, budget_usd=0.0, owner=this_process(),
                message_id=None,
            )  # fmt: skip
        last = 0
        for start in range(first, first + count, BATCH):
            async with database.transaction() as tx:
                for n in range(start, min(start + BATCH, first + count)):
                    last = (await log.insert(tx, run_id, "step.output", output(n))).id
        return last
    finally:
        await pool.close()


async def end(dsn: str, run_id: uuid.UUID) -> int:
    pool = await create_pool(dsn, size=1)
    try:
        database = PostgresDatabase(pool)
        reason = "the test's log is over"
        await RunStore(database).transition_run(
            run_id, "received", "cancelled", message_id=None, reason=reason
        )
        event = await EventLog(database).append(
            run_id, FINISHED, {"run_id": str(run_id), "status": "cancelled", "reason": reason}
        )
        return event.id
    finally:
        await pool.close()


def in_thread(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run ``coroutine`` on an event loop of its own: Playwright's keeps this thread's."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def following(page: Page) -> bool:
    at_end: bool = page.eval_on_selector(
        "#log", "log => log.scrollHeight - log.scrollTop - log.clientHeight < 24"
    )
    return at_end


def test_a_big_log_keeps_a_bounded_page_that_follows_its_end(
    serve: Serve, browsers: Browsers
) -> None:
    run_id = uuid.uuid4()
    loaded = in_thread(write(serve.dsn, run_id, 1, BEFORE, create=True))
    page = browsers.page()
    log_in(page, serve.url, serve.add_user(f"reader-{secrets.token_hex(3)}", "read"))
    page.goto(f"{serve.url}/runs/{run_id}")
    expect(page.locator("#live-state")).to_have_text("live")
    lines = page.locator("#log [data-event]")
    expect(lines).to_have_count(CAP)
    expect(page.locator("#log .trimmed")).to_contain_text(f"{BEFORE - CAP} earlier lines")
    assert held_events(page) == list(range(loaded - CAP + 1, loaded + 1))
    assert following(page)

    # A burst: nine thousand lines as fast as the database takes them.
    last = in_thread(write(serve.dsn, run_id, BEFORE + 1, DURING, create=False))
    expect(lines.last).to_have_attribute("data-event", str(last))
    assert lines.count() <= CAP
    expect(page.locator("#log .trimmed")).to_contain_text(f"({BEFORE + DURING - CAP} more dropped)")
    assert following(page), "tail mode lost the end of the log"
    page.check("#failed-only")
    # Every thousandth line failed: those within the last thousand held, no other.
    expect(page.locator("#log .line:visible")).to_have_count(1)
    expect(page.locator("#log .line:visible")).to_contain_text(f"line {BEFORE + DURING}")
    page.uncheck("#failed-only")

    # Scrolled up, the page stops following; the end of the run ends its stream.
    page.eval_on_selector("#log", "log => { log.scrollTop = 0; }")
    expect(page.locator("#follow")).not_to_be_checked()
    finished = in_thread(end(serve.dsn, run_id))
    expect(page.locator("#live-state")).to_have_text("finished")
    expect(page.locator("#run-status")).to_contain_text("cancelled")
    assert held_events(page)[-1] == finished
    assert not following(page)

    answer = page.request.get(f"{serve.url}/runs/{run_id}/output.txt")
    assert answer.ok
    raw = answer.text().splitlines()
    assert len(raw) == BEFORE + DURING + 1
    assert raw[0].startswith("core")
    assert raw[0].endswith("line 1 " + "x" * 80)
