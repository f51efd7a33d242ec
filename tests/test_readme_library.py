"""The README's first library example, run as a user would paste it: a script of its own, on
an embedded PostgreSQL in a home of the test's own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.postgres
@pytest.mark.slow
def test_the_readmes_first_library_example_runs_and_prints_its_greeting() -> None:
    first = python_blocks((REPO / "README.md").read_text())[0]
    with tempfile.TemporaryDirectory(prefix="chiffon-test-readme-") as home:
        script = Path(home) / "example.py"
        script.write_text(first)
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=120,
            env={**os.environ, "CHIFFON_HOME": str(Path(home) / "home")}, cwd=home,
            check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "hello, homelab"
