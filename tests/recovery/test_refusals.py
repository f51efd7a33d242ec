"""What ``chiffon run --resume`` refuses: a run that has ended, a run that does not exist."""

from __future__ import annotations

import json
import uuid

import pytest

from .lab import Lab

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_resuming_a_run_that_succeeded_is_refused_and_runs_nothing_again(lab: Lab) -> None:
    done = lab.chiffon("--yes", "--json", "Deploy Grafana")
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = json.loads(done.stdout)["run_id"]

    again = lab.chiffon("--resume", run_id, "--yes")

    assert again.returncode == 2
    assert "has already ended: succeeded" in again.stderr
    assert lab.records.run(uuid.UUID(run_id))["status"] == "succeeded"
    assert len(lab.records.steps(uuid.UUID(run_id))) == 1
    assert lab.executions()["grafana"] == 1


def test_resuming_a_run_id_that_names_no_run_is_refused(lab: Lab) -> None:
    unknown = lab.chiffon("--resume", str(uuid.uuid4()), "--yes")

    assert unknown.returncode == 2
    assert "no run" in unknown.stderr
