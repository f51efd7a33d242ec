"""ansible-lint, run for real: its findings as ``LintFinding``s relative to the root, nothing
on the homelab catalog, a cache that answers for unchanged files without running it again,
and a clear error when it cannot run."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import anyio
import pytest

from chiffon.playbooks import LintFinding, LintOutsideRoot, LintUnavailable, lint
from chiffon.playbooks.lint import lint_cache_key
from tests.playbooks.conftest import HOMELAB

lint_module = importlib.import_module("chiffon.playbooks.lint")
pytestmark = pytest.mark.slow


def playbooks(root: Path) -> list[Path]:
    return sorted((root / "playbooks").glob("*.yml"))


async def test_ansible_lint_findings_name_the_rule_the_file_and_the_line(
    seeded: Path, lint_cache: Path
) -> None:
    with anyio.fail_after(240):
        found = await lint(playbooks(seeded), root=seeded, cache_dir=lint_cache)
    where = {(f.rule, f.path, f.line) for f in found}
    assert ("no-changed-when", "playbooks/commands.yml", 5) in where
    assert ("command-instead-of-shell", "playbooks/commands.yml", 9) in where
    assert ("command-instead-of-module", "playbooks/commands.yml", 16) in where
    assert ("no-handler", "playbooks/restarts.yml", 19) in where
    assert all(isinstance(f, LintFinding) and f.severity in ("error", "warning", "info")
               for f in found)  # fmt: skip
    assert found == sorted(found, key=lambda f: (f.path, f.line, f.rule, f.message))


async def test_ansible_lint_finds_nothing_in_the_homelab_catalog(lint_cache: Path) -> None:
    with anyio.fail_after(240):
        assert await lint(playbooks(HOMELAB), root=HOMELAB, cache_dir=lint_cache) == []


async def test_unchanged_files_are_answered_from_the_cache_without_running_ansible_lint(
    seeded: Path, lint_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with anyio.fail_after(240):
        first = await lint(playbooks(seeded), root=seeded, cache_dir=lint_cache)
    # A new process (nothing in memory) whose interpreter cannot start ansible-lint.
    monkeypatch.setattr(lint_module, "_memory", {})
    monkeypatch.setattr(sys, "executable", str(seeded / "no-such-python"))
    assert await lint(playbooks(seeded), root=seeded, cache_dir=lint_cache) == first


async def test_a_changed_file_is_linted_again(
    seeded: Path, lint_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    playbook = seeded / "playbooks" / "commands.yml"
    with anyio.fail_after(240):
        await lint([playbook], root=seeded, cache_dir=lint_cache)
    before = lint_cache_key(playbook, root=seeded)
    playbook.write_text(playbook.read_text() + "\n# edited\n")
    assert lint_cache_key(playbook, root=seeded) != before
    monkeypatch.setattr(sys, "executable", str(seeded / "no-such-python"))
    with pytest.raises(LintUnavailable, match="ansible-lint could not run: cannot start"):
        await lint([playbook], root=seeded, cache_dir=lint_cache)


async def test_a_root_config_change_is_a_new_cache_key(seeded: Path) -> None:
    playbook = seeded / "playbooks" / "commands.yml"
    before = lint_cache_key(playbook, root=seeded)
    (seeded / ".ansible-lint").write_text("skip_list: [no-changed-when]\n")
    assert lint_cache_key(playbook, root=seeded) != before


async def test_a_file_outside_the_root_is_refused(seeded: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yml"
    outside.write_text("- hosts: all\n")
    with pytest.raises(LintOutsideRoot, match="is not under"):
        await lint([outside], root=seeded)


async def test_an_ansible_lint_that_fails_to_run_is_an_error_with_its_reason(
    seeded: Path, tmp_path: Path
) -> None:
    (seeded / ".ansible-lint").write_text("profile: no-such-profile\n")
    with anyio.fail_after(240), pytest.raises(LintUnavailable, match="exit status"):
        await lint(playbooks(seeded)[:1], root=seeded, cache_dir=tmp_path / "cache")
