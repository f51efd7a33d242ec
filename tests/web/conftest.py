"""Fixtures of the browser tests: Debian's Chromium (skipped without it, a failure in CI), a
``chiffon serve`` per module on the machine's PostgreSQL, users made with ``chiffon users``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.web.harness import CHROMIUM, Browsers, Serve


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def serve(machine_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One ``chiffon serve`` for a module's tests (each test makes runs of its own)."""
    server = Serve(tmp_path_factory.mktemp("serve"), machine_dsn)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def browsers(chromium: Path) -> Iterator[Browsers]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        opened = Browsers(playwright)
        try:
            yield opened
        finally:
            opened.close()
