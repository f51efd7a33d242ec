"""Every example runs, exits 0, and prints what its docstring promises."""

from __future__ import annotations

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


def run_example(name: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
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
