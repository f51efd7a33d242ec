"""A homelab for killing ``chiffon run``: real processes, the machine's PostgreSQL, real Ansible.

``Lab`` copies examples/homelab into the test's directory and instruments the playbooks the
tests plan: each first appends its name to ``executions.log`` under the target root (so a test
can count how often a playbook really ran) and then, when ``RECOVERY_SLEEP_S`` is set in the
environment of the ``chiffon`` process (ansible-playbook inherits it), waits that many
seconds — a step slow enough to be killed while it runs — and, when ``RECOVERY_RELEASE``
names a file, waits until that file exists: a step that runs until the test lets it go.
``Records`` reads what the processes left in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pexpect
import psutil
import yaml

from chiffon.agents.infra.processes import processes_naming
from chiffon.orchestrator.states import STEP_TERMINAL

T = TypeVar("T")

REPO = Path(__file__).parents[2]
HOMELAB = REPO / "examples" / "homelab"
README_REQUEST = "Deploy Uptime Kuma and add the existing portals to its monitors"
INSTRUMENTED = ("uptime-kuma", "uptime-kuma-monitors", "grafana")
PROMPT = "Approve, reject or modify?"
WAIT_S = 60.0
"""How long a test waits for a process to reach a point (a generous bound, never a timing)."""


def wait_until(
    condition: Callable[[], T | None], what: str | Callable[[], str], timeout: float = WAIT_S
) -> T:
    """Poll ``condition`` until it returns something truthy; fail saying ``what`` was awaited
    (a function: what it says at that moment)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what() if callable(what) else what}")
        time.sleep(0.05)


class Records:
    """Synchronous reads of the session's database (each on a short-lived connection)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def fetch(self, sql: str, *args: object) -> list[dict[str, Any]]:
        async def go() -> list[dict[str, Any]]:
            connection = await asyncpg.connect(self.dsn)
            try:
                return [dict(row) for row in await connection.fetch(sql, *args)]
            finally:
                await connection.close()

        return asyncio.run(go())

    def run(self, run_id: uuid.UUID) -> dict[str, Any]:
        [row] = self.fetch("SELECT * FROM runs WHERE id = $1", run_id)
        return row

    def run_of(self, pid: int, since: dt.datetime) -> uuid.UUID | None:
        """The run the process ``pid`` created (its owner is ``host:pid:start``) — not one
        created before ``since`` that it took over when it reconciled."""
        rows = self.fetch(
            "SELECT id FROM runs WHERE owner LIKE $1 AND created_at >= $2"
            " ORDER BY created_at DESC LIMIT 1",
            f"%:{pid}:%",
            since,
        )
        return rows[0]["id"] if rows else None

    def steps(self, run_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.fetch(
            "SELECT * FROM steps WHERE run_id = $1 ORDER BY position, attempt", run_id
        )

    def approvals(self, run_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.fetch("SELECT * FROM approvals WHERE run_id = $1 ORDER BY decided_at", run_id)

    def plans(self, run_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.fetch("SELECT * FROM plans WHERE run_id = $1 ORDER BY revision", run_id)

    def moves(self, kind: str, entity_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.fetch(
            "SELECT * FROM transitions WHERE entity_kind = $1 AND entity_id = $2 ORDER BY seq",
            kind,
            str(entity_id),
        )

    def chain(self, kind: str, entity_id: uuid.UUID) -> list[str]:
        """The states an entity went through, checked to be one unbroken chain: transitions
        numbered 1..n, the first from nothing, each from where the previous one led."""
        moves = self.moves(kind, entity_id)
        label = f"{kind} {entity_id}"
        assert [m["seq"] for m in moves] == list(range(1, len(moves) + 1)), label
        assert moves[0]["from_state"] is None, label
        for before, after in itertools.pairwise(moves):
            assert after["from_state"] == before["to_state"], label
        return [m["to_state"] for m in moves]

    def run_states(self, run_id: uuid.UUID) -> list[str]:
        states = self.chain("run", run_id)
        assert states[-1] == self.run(run_id)["status"]
        return states

    def assert_attempts_consistent(self, run_id: uuid.UUID) -> None:
        """Every attempt went from ``pending`` through an unbroken chain of transitions to
        exactly one terminal state, the one its row holds."""
        for step in self.steps(run_id):
            states = self.chain("step", step["id"])
            label = f"step {step['position'] + 1} attempt {step['attempt']}: {states}"
            assert states[0] == "pending", label
            assert [s for s in states if s in STEP_TERMINAL] == [step["status"]], label
            assert states[-1] == step["status"], label


class Lab:
    """One test's homelab: catalog, home, target root, audit trail, and the processes run."""

    def __init__(self, root: Path, dsn: str) -> None:
        self.root = root
        self.dsn = dsn
        self.catalog = root / "catalog"
        self.target = root / "target"
        self.work = root / "home" / "work"
        self.records = Records(dsn)
        self.started: list[subprocess.Popen[bytes] | pexpect.spawn] = []
        shutil.copytree(HOMELAB, self.catalog)
        for name in INSTRUMENTED:
            self._instrument(self.catalog / "playbooks" / f"{name}.yml", name)

    @staticmethod
    def _instrument(path: Path, name: str) -> None:
        plays = yaml.safe_load(path.read_text())
        log = '"{{ chiffon_target_root }}/executions.log"'
        sleep = "lookup('ansible.builtin.env', 'RECOVERY_SLEEP_S') | default('0', true) | int"
        release = "lookup('ansible.builtin.env', 'RECOVERY_RELEASE') | default('', true)"
        plays[0]["tasks"][:0] = [
            {
                "name": "Count this execution",
                "ansible.builtin.shell": f"echo {name} >> {log}",
            },
            {
                "name": "Take the time a test needs to kill the run here",
                "ansible.builtin.wait_for": {"timeout": f"{{{{ {sleep} }}}}"},
                "when": f"({sleep}) > 0",
            },
            {
                "name": "Wait until the test lets this step go",
                "ansible.builtin.wait_for": {"path": f"{{{{ {release} }}}}", "timeout": 600},
                "when": f"({release}) | length > 0",
            },
        ]
        path.write_text(yaml.safe_dump(plays, sort_keys=False))

    # -- processes -------------------------------------------------------------------------

    def env(
        self, *, sleep_s: int = 0, approval_ttl_s: float | None = None, release: Path | None = None
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHIFFON_", "RECOVERY_"))}
        env.update(
            CHIFFON_HOME=str(self.root / "home"),
            CHIFFON_DATABASE_URL=self.dsn,
            CHIFFON_TARGET_ROOT=str(self.target),
            CHIFFON_AUDIT_DIR=str(self.root / "audit"),
            CHIFFON_LOG_LEVEL="warning",
            COLUMNS="120",
        )
        if sleep_s:
            env["RECOVERY_SLEEP_S"] = str(sleep_s)
        if release is not None:
            env["RECOVERY_RELEASE"] = str(release)
        if approval_ttl_s is not None:
            env["CHIFFON_APPROVAL_TTL_S"] = str(approval_ttl_s)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "chiffon", "run", "--catalog", str(self.catalog), *args]

    def chiffon(self, *args: str, **env: Any) -> subprocess.CompletedProcess[str]:
        """``chiffon run --catalog <lab> *args`` to its end."""
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, env=self.env(**env),
            cwd=REPO, timeout=WAIT_S, check=False,
        )  # fmt: skip

    def start(self, *args: str, **env: Any) -> subprocess.Popen[bytes]:
        """``chiffon run`` in a session (a process group) of its own, output to a file."""
        log = (self.root / f"chiffon-{len(self.started)}.log").open("wb")
        with log:
            process = subprocess.Popen(
                self.command(*args), env=self.env(**env), cwd=REPO, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.started.append(process)
        return process

    def at_prompt(self, request: str = README_REQUEST) -> tuple[pexpect.spawn, uuid.UUID]:
        """``chiffon run`` (no --yes) under a pseudo-terminal, waiting at the approval prompt;
        the process and its run."""
        since = dt.datetime.now(dt.UTC)
        child = pexpect.spawn(
            sys.executable, self.command(request)[1:], env=self.env(), cwd=str(REPO),
            timeout=WAIT_S, encoding="utf-8", dimensions=(50, 120),
        )  # fmt: skip
        self.started.append(child)
        child.expect_exact(PROMPT)
        run_id = self.records.run_of(child.pid, since)
        assert run_id is not None, "a run at its approval prompt is in the database"
        return child, run_id

    def kill(self, child: subprocess.Popen[bytes] | pexpect.spawn) -> None:
        """SIGKILL the ``chiffon`` process and its process group, and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        if isinstance(child, subprocess.Popen):
            child.wait()
        else:
            child.close(force=True)

    def kill_mid_step(self, playbook: str = "uptime-kuma", *, request: str = README_REQUEST,
                      **env: Any) -> tuple[uuid.UUID, list[psutil.Process]]:  # fmt: skip
        """Start ``chiffon run --yes`` with slow steps, wait until ``playbook`` runs (and has
        counted its execution), SIGKILL the group. Returns the run id and the Ansible
        processes that were working on it at the kill."""
        since = dt.datetime.now(dt.UTC)
        process = self.start("--yes", request, sleep_s=60, **env)
        run_id = wait_until(
            lambda: self.records.run_of(process.pid, since), "the run to be created"
        )

        def running() -> bool:
            steps = self.records.steps(run_id)
            return (
                any(s["playbook"] == playbook and s["status"] == "running" for s in steps)
                and playbook in self.executions()
            )

        wait_until(
            running,
            lambda: (
                f"{playbook} to run; steps: {self.records.steps(run_id)}, "
                f"executions: {self.executions()}"
            ),
        )
        workers = wait_until(self.ansible_processes, "ansible-playbook to be at work")
        self.kill(process)
        return run_id, workers

    # -- what happened ---------------------------------------------------------------------

    def executions(self) -> Counter[str]:
        log = self.target / "executions.log"
        return Counter(log.read_text().split()) if log.exists() else Counter()

    def ansible_processes(self) -> list[psutil.Process]:
        """Live processes working in this lab's work directory (ansible-playbook, its forked
        workers, their modules)."""
        return processes_naming(str(self.work))

    @staticmethod
    def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
        """Those of ``processes`` still running (the same processes: pids are not reused)."""
        left = []
        for process in processes:
            with contextlib.suppress(psutil.Error):
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    left.append(process)
        return left

    def close(self) -> None:
        """Kill what the lab started and what still works in its directory."""
        for child in self.started:
            done = child.poll() is not None if isinstance(child, subprocess.Popen) else child.closed
            if not done:
                self.kill(child)
        for process in self.ansible_processes():
            with contextlib.suppress(psutil.Error):
                process.kill()
