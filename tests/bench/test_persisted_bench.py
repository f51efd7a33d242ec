"""``chiffon bench persisted --messages N`` sends exactly N messages, whatever the number of
senders (it used to send a whole share per sender: 1,792 of 2,000 at 256). No timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(("messages", "concurrency"), [(2000, 256), (10, 64)])
def test_bench_persisted_sends_exactly_the_messages_asked_for(
    messages: int, concurrency: int, machine_dsn: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    env.update(CHIFFON_HOME=str(tmp_path / "home"), CHIFFON_DATABASE_URL=machine_dsn)
    done = subprocess.run(
        [sys.executable, "-m", "chiffon", "bench", "persisted", "--json",
         "--messages", str(messages), "--concurrency", str(concurrency)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (result,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert result["scenario"] == "persisted"
    assert result["messages"] == messages
    assert result["concurrency"] == min(messages, concurrency)
