"""Secrets and the LLM planner: the model is never shown a secret the request gives (Chiffon
sets it in the plan itself), and a secret value the model puts in its answer is refused and
kept nowhere — canaries checked in the database (``pg_dump``), the home, the trail, the logs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import anyio
import pytest

from .model_server import ModelServer, Reply
from .test_llm_run import run_llm, settings_for, written_under

pytestmark = pytest.mark.timeout(600)


def grafana(**variables: object) -> Reply:
    body = {
        "steps": [{"playbook": "grafana", "hosts": ["core"], "variables": variables}],
        "question": None,
        "summary": "Grafana",
        "confidence": 0.9,
    }
    return Reply(json.dumps(body))


async def output_of(*command: str) -> str:
    done = await anyio.run_process(list(command), check=True)
    return done.stdout.decode()


def holding(root: Path, canary: str) -> list[Path]:
    return [p for p in written_under(root) if canary.encode() in p.read_bytes()]


async def test_the_model_never_sees_a_typed_secret_and_its_own_secret_values_are_kept_nowhere(
    tmp_path: Path, machine_dsn: str, server: ModelServer, capfd: pytest.CaptureFixture[str]
) -> None:
    typed = f"typed{uuid.uuid4().hex[:12]}"
    answered = f"answered{uuid.uuid4().hex[:12]}"
    # The model first sets the secret itself (refused), then leaves it to Chiffon.
    server.ollama.extend([grafana(grafana_admin_password=answered), grafana()])
    settings = settings_for(tmp_path, machine_dsn, server)

    recorded = await run_llm(settings, f"deploy grafana with admin password {typed}")

    assert recorded.finished.status == "succeeded", recorded.finished.reason
    assert len(server.received) == 2
    for received in server.received:
        sent = json.dumps(received.body)
        assert typed not in sent
        assert "admin password ***" in sent or answered in sent  # the repair quotes its answer
    # What the request asked for went out; what the model made up did not.
    assert holding(tmp_path / "target", typed)
    assert not holding(tmp_path / "target", answered)
    assert recorded.run["request"].startswith("deploy grafana with admin password sealed:v1:")
    dump = await output_of("pg_dump", "--dbname", machine_dsn)
    trail = await output_of("git", "-C", str(tmp_path / "audit"), "log", "-p", "--all")
    assert "admin password ***" in trail
    printed = capfd.readouterr()
    for canary in (typed, answered):
        assert canary not in dump
        assert canary not in trail
        assert not holding(tmp_path / "home", canary)
        assert not holding(tmp_path / "audit", canary)
        assert canary not in printed.out + printed.err
