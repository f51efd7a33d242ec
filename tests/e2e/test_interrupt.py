"""Ctrl-C: a real SIGINT to a real ``chiffon run`` while its step runs. The run is recorded
``interrupted`` as the process stops — in the database (the run and the attempt it was
running) and in the trail — not left ``running``; and ``--resume`` picks it up with a new
attempt."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.e2e.conftest import CATALOG, ROOT, chiffon, embedded_server, query
from tests.e2e.test_readme_run import trail

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored; a terminal's process gets Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_during_a_step_records_the_run_interrupted_and_resume_finishes_it(
    home_env: dict[str, str],
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "chiffon", "run", "--catalog", str(CATALOG), "--yes",
         "deploy home assistant"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=home_env, cwd=ROOT,
        preexec_fn=_default_sigint,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    printed: list[str] = []
    running = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            printed.append(line)
            if line.startswith("step 1/1 home-assistant"):
                running.set()
        running.set()  # it ended first: the assertions below say how

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        running.wait()
        assert process.poll() is None, "".join(printed) + process.stderr.read()
        process.send_signal(signal.SIGINT)
        code = process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join()
    stderr = process.stderr.read()
    process.stdout.close()
    process.stderr.close()

    assert code == 3, "".join(printed) + stderr
    assert "interrupted; resume with: chiffon run --resume" in stderr
    run_id = stderr.rsplit("--resume ", 1)[1].split()[0]
    home = Path(home_env["CHIFFON_HOME"])
    with embedded_server(home) as dsn:
        run = query(dsn, "SELECT status, reason FROM runs WHERE id = $1::uuid", run_id)
        attempts = query(
            dsn, "SELECT attempt, status FROM steps WHERE run_id = $1::uuid ORDER BY attempt",
            run_id,
        )  # fmt: skip
    assert run == [{"status": "interrupted", "reason": run[0]["reason"]}]
    assert "stopped with the process driving it" in run[0]["reason"]
    assert attempts == [{"attempt": 1, "status": "interrupted"}]
    latest = trail(Path(home_env["CHIFFON_AUDIT_DIR"]))[0]
    assert (latest["Run-Id"], latest["Milestone"], latest["Status"]) == (
        run_id, "interrupted", "interrupted",
    ), stderr  # fmt: skip

    resumed = chiffon(
        "run", "--catalog", str(CATALOG), "--yes", "--json", "--resume", run_id, env=home_env
    )

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "succeeded"
    assert [(s["playbook"], s["attempt"]) for s in summary["steps"]] == [("home-assistant", 2)]
