"""The README's command as a user runs it: ``python -m chiffon`` in a real process (piped, or
in a pseudo-terminal through pexpect), real ansible-playbook runs against the homelab catalog,
real PostgreSQL, a real git audit trail.

Each test gets its own ``CHIFFON_HOME``, target root and audit repository under ``tmp_path``;
``env`` points the database at this session's machine database (``machine_dsn``), and the
test that covers the README's default path drops it to use the embedded server instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pexpect
import pytest

from chiffon.journal.embedded import EmbeddedServer
from tests.conftest import run_async

ROOT = Path(__file__).parent.parent.parent
CATALOG = ROOT / "examples" / "homelab"
REQUEST = "Deploy Uptime Kuma and add the existing portals to its monitors"
PROMPT = "Approve, reject or modify?"
FEEDBACK = "What should change?"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_RUN_LINE = re.compile(r"^run ([0-9a-f-]{36}) (\w+)", re.MULTILINE)


@pytest.fixture
def home_env(tmp_path: Path) -> dict[str, str]:
    """The process environment of a test's ``chiffon``: its own home, target root and audit
    repository, no ``CHIFFON_*`` from the caller; so the embedded database under the home."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    clean.update(
        CHIFFON_HOME=str(tmp_path / "home"),
        CHIFFON_TARGET_ROOT=str(tmp_path / "target"),
        CHIFFON_AUDIT_DIR=str(tmp_path / "audit"),
    )
    return clean


@pytest.fixture
def env(home_env: dict[str, str], machine_dsn: str) -> dict[str, str]:
    """``home_env`` on this session's machine database."""
    return {**home_env, "CHIFFON_DATABASE_URL": machine_dsn}


def chiffon(
    *args: str, env: dict[str, str], timeout: float = 120, stdin: Any = None
) -> subprocess.CompletedProcess[str]:
    """``python -m chiffon ARGS`` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "chiffon", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=stdin,
        cwd=ROOT,
        check=False,
    )


def plain(text: str) -> str:
    """``text`` without terminal escapes (colours, cursor moves)."""
    return _ANSI.sub("", text)


def words(text: str) -> str:
    """``text`` with every run of whitespace as one space: rich wraps to the terminal."""
    return " ".join(plain(text).split())


class Terminal:
    """``chiffon ARGS`` in a pseudo-terminal, everything it printed kept in ``seen``."""

    def __init__(self, *args: str, env: dict[str, str], timeout: float = 60) -> None:
        self.log = io.StringIO()
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "chiffon", *args],
            env={**env, "TERM": "xterm-256color"},
            cwd=str(ROOT),
            timeout=timeout,
            encoding="utf-8",
            codec_errors="replace",
            # Wide enough that no table cell or prompt is wrapped.
            dimensions=(50, 220),
        )
        self.child.logfile_read = self.log

    def expect(self, text: str) -> str:
        """Wait for ``text``; what came before it, escapes removed."""
        self.child.expect_exact(text)
        return plain(self.child.before or "")

    def answer(self, line: str) -> None:
        self.child.sendline(line)

    def finish(self) -> int:
        """Wait for the process to end; its exit status."""
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.exitstatus is not None, f"killed by signal {self.child.signalstatus}"
        return int(self.child.exitstatus)

    @property
    def seen(self) -> str:
        return plain(self.log.getvalue())

    def run_id(self) -> str:
        """The run id of the summary line (``run <id> <status> …``)."""
        found = _RUN_LINE.findall(self.seen)
        assert found, self.seen[-3000:]
        return str(found[-1][0])


def query(dsn: str, sql: str, *args: object) -> list[dict[str, Any]]:
    """Rows of ``sql`` on ``dsn``, as dicts."""

    async def fetch() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(dsn)
        try:
            return [dict(row) for row in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    return run_async(fetch)


@contextlib.contextmanager
def embedded_server(home: Path) -> Iterator[str]:
    """Join the embedded server of the Chiffon home ``home`` (starting it if no process runs
    it) for the duration; its DSN. Processes started meanwhile join it too."""
    server = run_async(EmbeddedServer.start, home / "pgdata")
    try:
        yield server.dsn
    finally:
        run_async(server.release)
