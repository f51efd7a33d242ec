"""``--resume`` and the decision commands resolve run ids the one way: ``%``, ``_`` and an
empty prefix name nothing (they are not wildcards), and a dashless prefix works everywhere."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import CATALOG, chiffon


@pytest.mark.parametrize("text", ["%", "_", ""])
def test_a_wildcard_or_empty_run_id_is_refused_everywhere(env: dict[str, str], text: str) -> None:
    for args in (
        ("run", "--catalog", str(CATALOG), "--yes", "--resume", text),
        ("approve", text),
        ("cancel", text),
        ("audit", "show", text),
    ):
        result = chiffon(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert "is not a run id" in result.stderr, (args, result.stderr)


def test_a_dashless_prefix_resolves_for_every_command(env: dict[str, str]) -> None:
    done = chiffon("run", "--catalog", str(CATALOG), "--yes", "--json", "Deploy Pi-hole", env=env)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    prefix = run_id.replace("-", "")[:14]
    shown = chiffon("audit", "show", prefix, env=env)
    assert shown.returncode == 0, shown.stderr
    assert run_id in shown.stdout
    for args in (("approve", prefix), ("cancel", prefix)):
        refused = chiffon(*args, env=env)
        assert refused.returncode == 1, (args, refused.stderr)  # found, and it has ended
    resumed = chiffon("run", "--catalog", str(CATALOG), "--yes", "--resume", prefix, env=env)
    assert resumed.returncode == 2, resumed.stderr
    assert "has already ended" in resumed.stderr
