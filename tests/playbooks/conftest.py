"""Fixtures of the playbook-suggestion tests: the seeded bad catalog (copied, so that tests
may edit it and make it a git repository), the clean homelab catalog, a store on the
session's database, and a lint cache shared by the session (ansible-lint's seconds are paid
once per file version)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from chiffon.journal import open_store
from chiffon.journal.store import Store

ROOT = Path(__file__).parent.parent.parent
SEEDED = Path(__file__).parent / "seeded"
HOMELAB = ROOT / "examples" / "homelab"


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A copy of the seeded catalog in its own directory."""
    target = tmp_path / "catalog"
    shutil.copytree(SEEDED, target)
    return target


def git(where: Path, *args: str) -> str:
    """Run git in ``where`` as a test user; its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(
        ["git", "-C", str(where), "-c", "user.name=Tester", "-c", "user.email=t@example.org",
         *args],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    return done.stdout


@pytest.fixture
def repository(seeded: Path) -> Path:
    """The seeded catalog as a git repository with one commit on ``main``."""
    git(seeded, "init", "-q", "-b", "main")
    git(seeded, "add", "-A")
    git(seeded, "commit", "-q", "-m", "The seeded catalog")
    return seeded


@pytest.fixture(scope="session")
def lint_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lint-cache")


@asynccontextmanager
async def opened(dsn: str, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(
        dsn, tmp_path, pool_size=2, batch_size=64, flush_delay_s=0.001, auto_upgrade=False
    ) as store:
        yield store
