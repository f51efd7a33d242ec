"""Save a screenshot of every dashboard page, to look at (the PNGs are not committed).

uv run python -m tests.web.screenshots OUT_DIR
    starts a ``chiffon serve`` of its own on a fresh database of the machine's PostgreSQL
    (CHIFFON_TEST_DATABASE_URL), makes a user and runs in each state worth seeing (awaiting
    approval, succeeded, rejected, paused for capacity), then shoots every page;
uv run python -m tests.web.screenshots OUT_DIR --url http://127.0.0.1:8080 --user NAME
    shoots the pages of a server that is already running (password on standard input).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from playwright.sync_api import Page, expect, sync_playwright

from chiffon.journal import migrate
from tests.conftest import with_database
from tests.recovery.lab import HOMELAB
from tests.web.harness import (
    KUMA,
    PASSWORD,
    RUN_S,
    Browsers,
    Serve,
    awaiting_decision,
    log_in,
    submit,
)

PIHOLE = "2024.07.0"
PAGES = (
    ("runs", "/runs"),
    ("approvals", "/approvals"),
    ("new-request", "/runs/new"),
    ("agents", "/agents"),
    ("audit", "/audit?service=uptime-kuma"),
    ("suggestions", "/suggestions"),
    ("dead-letters", "/dead-letters"),
    ("tokens", "/tokens"),
)


def shoot(page: Page, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(path)


def make_runs(page: Page, url: str, out: Path) -> None:
    """Runs in each state, each page shot on the way."""
    succeeded = submit(page, url, KUMA)
    awaiting_decision(page)
    shoot(page, out, "run-awaiting-approval")
    page.click("button[value=approve]")
    expect(page.locator("#run-status")).to_contain_text("succeeded", timeout=RUN_S * 1000)
    shoot(page, out, "run-succeeded")
    page.check("#failed-only")
    shoot(page, out, "run-succeeded-failed-only")
    rejected = submit(page, url, "Set up nightly backups of the NAS", dry_run=False)
    awaiting_decision(page)
    shoot(page, out, "run-with-secret")
    page.click("button[value=reject]")
    expect(page.locator("#run-status")).to_contain_text("rejected")
    submit(page, url, "Deploy Ollama", dry_run=False)
    awaiting_decision(page)
    page.click("button[value=approve]")
    expect(page.locator("#run-status")).to_contain_text("paused", timeout=RUN_S * 1000)
    shoot(page, out, "run-paused")
    # One left for the approvals inbox to show.
    waiting = submit(page, url, "Deploy Pi-hole", dry_run=False)
    awaiting_decision(page)
    print(f"runs: {succeeded} succeeded, {rejected} rejected, {waiting} waiting", file=sys.stderr)


def shoot_all(url: str, user: str, password: str, out: Path, *, runs: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browsers = Browsers(playwright)
        try:
            page = browsers.page()
            page.goto(f"{url}/login")
            shoot(page, out, "login")
            log_in(page, url, user, password=password)
            if runs:
                make_runs(page, url, out)
            for name, path in PAGES:
                page.goto(url + path)
                shoot(page, out, name)
            page.goto(f"{url}/runs/new")
            page.fill("#request", KUMA)
            page.click("button[value=preview]")
            page.wait_for_load_state()
            shoot(page, out, "new-request-preview")
            page.goto(f"{url}/tokens")
            page.select_option("#scope", "run")
            page.click("text=Make token")
            expect(page.locator("#new-secret")).to_be_visible()
            shoot(page, out, "tokens-made")
            page.goto(f"{url}/runs")
            first = page.locator("#runs tbody a.mono").first
            if first.count():
                first.click()
                page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
                shoot(page, out, "run")
        finally:
            browsers.close()


def unpinned_catalog(where: Path) -> Path:
    """The example homelab with Pi-hole's image on ``latest``: something for the playbook
    check to suggest."""
    shutil.copytree(HOMELAB, where)
    catalog = where / "catalog.yml"
    text = catalog.read_text()
    assert f"pihole/pihole:{PIHOLE}" in text
    catalog.write_text(text.replace(f"pihole/pihole:{PIHOLE}", "pihole/pihole:latest"))
    return where


@contextmanager
def fresh_database(admin_dsn: str) -> Iterator[str]:
    name = f"chiffon_shots_{secrets.token_hex(3)}"

    async def create() -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    async def drop() -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(create())
    try:
        dsn = with_database(admin_dsn, name)
        asyncio.run(migrate.upgrade(dsn))
        yield dsn
    finally:
        asyncio.run(drop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--url", help="A running server to shoot (password on stdin).")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--no-runs", action="store_true", help="Make no runs first.")
    args = parser.parse_args()
    if args.url:
        password = sys.stdin.readline().rstrip("\n")
        shoot_all(args.url, args.user, password, args.out, runs=not args.no_runs)
        return
    admin_dsn = os.environ.get(
        "CHIFFON_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    with fresh_database(admin_dsn) as dsn, tempfile.TemporaryDirectory() as root:
        serve = Serve(Path(root), dsn, catalog=unpinned_catalog(Path(root) / "catalog"))
        serve.start()
        try:
            serve.add_user(args.user, "admin")
            # A suggestion to look at (exit status 1: there is one); ansible-lint, which
            # finds nothing in the example and takes minutes on a busy machine, is left out.
            serve.chiffon("playbooks", "check", "--no-lint", "--pin", f"pihole/pihole={PIHOLE}",
                          "--catalog", str(serve.catalog), ok=(1,))  # fmt: skip
            shoot_all(serve.url, args.user, PASSWORD, args.out, runs=not args.no_runs)
        finally:
            serve.stop()


if __name__ == "__main__":
    main()
