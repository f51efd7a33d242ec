"""How long ``chiffon catalog import`` and ``chiffon playbooks check`` take on a repository of
100+ roles (the layout helper's homelab with 100 generated service roles):
``uv run python -m tests.repos.bench_repos [SERVICES]``. A measurement, not a test.

Both are timed as a user runs them: ``python -m chiffon`` in a new process. The check is
cold: a new ``CHIFFON_HOME`` (empty ansible-lint cache), on ``CHIFFON_DATABASE_URL`` when
set, else the embedded server under that home (its start is part of the figure). Prints one
JSON object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.repos.layout import write_homelab


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "chiffon", *args],
        capture_output=True, text=True, env=env, check=False, timeout=900,
    )  # fmt: skip
    return time.perf_counter() - started, done


def main() -> None:
    services = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        repo = write_homelab(base / "repo", data_root=base / "data", services=services)
        roles = sum(1 for p in (repo / "roles").iterdir() if p.is_dir())
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
        env["CHIFFON_HOME"] = str(base / "home")
        if "CHIFFON_DATABASE_URL" in os.environ:
            env["CHIFFON_DATABASE_URL"] = os.environ["CHIFFON_DATABASE_URL"]
        seconds, done = _timed(
            ["catalog", "import", str(repo), "-o", str(repo / "catalog.yml")], env
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        result: dict[str, object] = {
            "roles": roles,
            "import_s": round(seconds, 2),
            "entries": done.stderr.split()[0],
        }
        seconds, done = _timed(["playbooks", "check", "--catalog", str(repo), "--json"], env)
        if done.returncode not in (0, 1):
            raise SystemExit(done.stderr)
        report = json.loads(done.stdout)
        result.update(
            check_cold_s=round(seconds, 2),
            check_parts_s=report["seconds"],
            suggestions=len(report["suggestions"]),
            lint_error=report["lint_error"],
        )
        print(json.dumps(result))


if __name__ == "__main__":
    main()
