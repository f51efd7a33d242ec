"""A real ``chiffon serve`` process and real headless Chromium browsers to drive its
dashboard: shared by the browser tests and the screenshot script.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright for Python through its
``executable_path`` (Playwright's own browser download is never used); each browser gets a
fresh user-data directory, so two of them share no cookie.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, Playwright, expect

from tests.recovery.lab import HOMELAB, REPO, WAIT_S, Records, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PASSWORD = "correct horse battery"
KUMA = "Deploy Uptime Kuma and add the existing portals to its monitors"
RUN_S = 240.0
"""How long a test waits for a whole run (plan, check mode, two playbooks) on a busy machine:
a bound, never a timing."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Serve:
    """One ``chiffon serve`` on loopback, over the homelab catalog, on database ``dsn``; its
    output in ``root/serve-N.log``. It can be killed (``kill -9``) and started again on the
    same port, database and home."""

    def __init__(
        self, root: Path, dsn: str, *, catalog: Path = HOMELAB, env: dict[str, str] | None = None
    ) -> None:
        self.root = root
        self.dsn = dsn
        self.catalog = catalog
        self.port = free_port()
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
        env.update(
            CHIFFON_HOME=str(self.root / "home"),
            CHIFFON_DATABASE_URL=self.dsn,
            CHIFFON_TARGET_ROOT=str(self.root / "target"),
            CHIFFON_AUDIT_DIR=str(self.root / "audit"),
            CHIFFON_LOG_LEVEL="warning",
            **self.extra_env,
        )
        return env

    @property
    def log(self) -> Path:
        return self.root / f"serve-{self.starts}.log"

    def start(self) -> None:
        """Start the server; returns once ``/health`` answers."""
        self.starts += 1
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chiffon", "serve", "--catalog", str(self.catalog),
                 "--listen", f"127.0.0.1:{self.port}"],
                env=self.env(), cwd=REPO, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_until(self._healthy, lambda: f"chiffon serve to answer: {self.output()}")

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"chiffon serve exited {self.process.returncode}: "
                                 f"{self.output()}")  # fmt: skip
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def kill(self) -> None:
        """``kill -9`` the server (its process group: nothing of it survives)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(WAIT_S)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(WAIT_S)

    def chiffon(
        self, *args: str, stdin: str | None = None, ok: tuple[int, ...] = (0,)
    ) -> subprocess.CompletedProcess[str]:
        """``chiffon *args`` against this server's database and home; its exit status must
        be one of ``ok``."""
        done = subprocess.run(
            [sys.executable, "-m", "chiffon", *args], input=stdin, capture_output=True,
            text=True, env=self.env(), cwd=REPO, timeout=WAIT_S, check=False,
        )  # fmt: skip
        assert done.returncode in ok, f"chiffon {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def add_user(self, name: str, scope: str = "approve") -> str:
        """``chiffon users add`` ``name``; returns its name."""
        self.chiffon("users", "add", name, "--scope", scope, "--password-stdin",
                     stdin=PASSWORD + "\n")  # fmt: skip
        return name


class Browsers:
    """Headless Chromium browsers, each with a user-data directory of its own."""

    def __init__(self, playwright: Playwright) -> None:
        self.playwright = playwright
        self.contexts: list[BrowserContext] = []
        self._dirs = contextlib.ExitStack()

    def open(self, *, javascript: bool = True) -> BrowserContext:
        profile = self._dirs.enter_context(tempfile.TemporaryDirectory(prefix="chiffon-chromium-"))
        context = self.playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900}, java_script_enabled=javascript,
        )  # fmt: skip
        context.set_default_timeout(WAIT_S * 1000)
        self.contexts.append(context)
        return context

    def page(self) -> Page:
        """A new page in a new browser."""
        context = self.open()
        return context.pages[0] if context.pages else context.new_page()

    def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Exception):
                context.close()
        self._dirs.close()


def refusals(dsn: str, target: str) -> list[dict[str, Any]]:
    """The refused attempts recorded against ``target``, oldest first. Read in a thread of its
    own: Playwright's sync API keeps an event loop running in this one."""
    query = "SELECT * FROM refusals WHERE target = $1 ORDER BY id"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(Records(dsn).fetch, query, target).result()


def shown_events(dsn: str, run_id: str) -> dict[int, str]:
    """The run's stored events the page's log shows a line for: id → kind."""
    from chiffon.runs import RunEvent
    from chiffon.web.output import is_line

    query = "SELECT * FROM run_events WHERE run_id = $1 ORDER BY seq"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        rows = pool.submit(Records(dsn).fetch, query, uuid.UUID(run_id)).result()
    events = [
        RunEvent(id=r["seq"], run_id=r["run_id"], at=r["at"], kind=r["kind"],
                 data=json.loads(r["data"]) if isinstance(r["data"], str) else r["data"])
        for r in rows
    ]  # fmt: skip
    return {e.id: e.kind for e in events if is_line(e)}


def log_in(page: Page, url: str, user: str, *, password: str = PASSWORD) -> None:
    """Log in on the server at ``url`` through its login form."""
    page.goto(f"{url}/login")
    page.fill("#name", user)
    page.fill("#password", password)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_contain_text(user)


def submit(page: Page, url: str, request: str = KUMA, *, dry_run: bool = True) -> str:
    """Submit ``request`` through the new-request form (with Ansible's check mode before the
    approval, or without); returns the run's id once its page is open."""
    page.goto(f"{url}/runs/new")
    page.fill("#request", request)
    page.set_checked("#dry_run", dry_run)
    page.click("button[value=submit]")
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def awaiting_decision(page: Page, revision: int = 1) -> None:
    expect(page.locator("#decision h2")).to_have_text(
        f"Decision needed on revision {revision}", timeout=RUN_S * 1000
    )
