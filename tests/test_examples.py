"""Every example runs, exits 0, and prints what its docstring promises."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


def run_example(name: str, *, env: dict[str, str] | None = None, timeout: float = 60) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_hello_actor_tells_asks_and_shuts_down() -> None:
    assert run_example("hello_actor.py") == [
        "greeter says: Hello, Ada!",
        "greeter says: Hello, Grace!",
        "asked, got back: 'Hello, Grace!'",
        "chiffon://chiffon/greeter has greeted 2 people",
        "the system has shut down",
    ]


def test_supervision_restarts_with_doubling_backoff_then_escalates_to_the_root() -> None:
    lines = run_example("supervision.py")
    assert [line for line in lines if line.startswith("supervisor:")] == [
        "supervisor: waiting 0.05 s before restarting the worker",
        "supervisor: waiting 0.10 s before restarting the worker",
        "supervisor: waiting 0.20 s before restarting the worker",
    ]
    assert lines.count("worker: crashing") == 4
    assert lines.count("worker: restarted after RuntimeError('disk on fire')") == 3
    assert lines[-2:] == [
        "the system stopped: chiffon://chiffon/supervisor escalated: Escalated: "
        "chiffon://chiffon/supervisor/worker escalated: 3 restarts within 60 s exceeded "
        "(last failure: RuntimeError: disk on fire)",
        "original cause: RuntimeError('disk on fire')",
    ]


@pytest.mark.slow
def test_library_run_approves_the_readme_plan_and_the_run_succeeds(
    tmp_path: pathlib.Path, machine_dsn: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    env.update(
        CHIFFON_HOME=str(tmp_path / "home"),
        CHIFFON_DATABASE_URL=machine_dsn,
        CHIFFON_TARGET_ROOT=str(tmp_path / "target"),
        CHIFFON_AUDIT_DIR=str(tmp_path / "audit"),
    )
    lines = run_example("library_run.py", env=env, timeout=180)
    assert re.fullmatch(
        r"plan sha256:[0-9a-f]{12}: uptime-kuma on core, uptime-kuma-monitors on core", lines[0]
    ), lines
    assert lines[1] == "approver: approved"
    assert [line.split(":")[0] for line in lines[2:4]] == [
        "step uptime-kuma",
        "step uptime-kuma-monitors",
    ]
    assert all(": succeeded (" in line for line in lines[2:4]), lines
    assert re.fullmatch(r"run [0-9a-f-]{36}: succeeded, \$0\.00", lines[-1]), lines
    assert (tmp_path / "target" / "core" / "srv" / "uptime-kuma" / "compose.yaml").exists()
