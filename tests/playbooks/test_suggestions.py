"""Checks stored as suggestions on real PostgreSQL: one open suggestion per finding, no
duplicates on a re-check, dismissed stays dismissed, a fixed finding becomes implemented,
ansible-lint's findings stored next to Chiffon's (and not twice)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import anyio
import pytest

from chiffon.catalog import load_catalog
from chiffon.playbooks.errors import SuggestionNotOpen, UnknownEntry
from chiffon.playbooks.store import change_status, list_suggestions
from chiffon.playbooks.suggestions import check_catalog
from tests.playbooks.conftest import opened
from tests.playbooks.test_rules import EXPECTED

pytestmark = pytest.mark.postgres


def expected() -> list[tuple[str, str, int]]:
    return sorted((rule, path, line) for rule, path, line, _ in EXPECTED)


async def test_a_check_stores_one_open_suggestion_per_finding(
    pg_dsn: str, seeded: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(seeded)
    with anyio.fail_after(60):
        async with opened(pg_dsn, tmp_path) as store:
            report = await check_catalog(store.database, catalog, use_lint=False)
    assert sorted((s.rule, s.path, s.line) for s in report.suggestions) == expected()
    assert {s.status for s in report.suggestions} == {"open"}
    assert {s.catalog for s in report.suggestions} == {str(catalog.root)}
    assert sorted(report.recorded.opened) == sorted(s.id for s in report.suggestions)
    [secret] = [s for s in report.suggestions if s.path == "catalog.yml" and s.line == 22]
    assert secret.entry == "secrets"
    assert secret.diff is not None
    assert "secret: true" in secret.diff
    assert secret.why
    assert secret.fix
    assert report.lint_error is None


async def test_checking_again_does_not_duplicate_an_open_suggestion(
    pg_dsn: str, seeded: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(seeded)
    with anyio.fail_after(60):
        async with opened(pg_dsn, tmp_path) as store:
            first = await check_catalog(store.database, catalog, use_lint=False)
            second = await check_catalog(store.database, catalog, use_lint=False)
            every = await list_suggestions(store.database, catalog=str(catalog.root))
    assert second.recorded.opened == ()
    assert sorted(second.recorded.kept) == sorted(s.id for s in first.suggestions)
    assert [s.id for s in second.suggestions] == [s.id for s in first.suggestions]
    assert len(every) == len(EXPECTED)


async def test_a_dismissed_suggestion_stays_dismissed_on_later_checks(
    pg_dsn: str, seeded: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(seeded)
    with anyio.fail_after(60):
        async with opened(pg_dsn, tmp_path) as store:
            db = store.database
            first = await check_catalog(db, catalog, ["hosts"], use_lint=False)
            target = first.suggestions[0]
            dismissed = await change_status(db, target.id, "dismissed")
            again = await check_catalog(db, catalog, ["hosts"], use_lint=False)
            with pytest.raises(SuggestionNotOpen, match=f"suggestion {target.id} is dismissed"):
                await change_status(db, target.id, "accepted")
            kept = await list_suggestions(
                db, catalog=str(catalog.root), status=["dismissed"], entries=["hosts"]
            )
    assert dismissed.status == "dismissed"
    assert target.id not in {s.id for s in again.suggestions}
    assert again.recorded.opened == ()
    assert [s.id for s in kept] == [target.id]


async def test_a_suggestion_whose_finding_is_gone_becomes_implemented_and_a_regression_reopens(
    pg_dsn: str, seeded: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(seeded)
    playbook = seeded / "playbooks" / "commands.yml"
    original = playbook.read_text()
    with anyio.fail_after(60):
        async with opened(pg_dsn, tmp_path) as store:
            db = store.database
            first = await check_catalog(db, catalog, ["commands"], use_lint=False)
            [read] = [s for s in first.suggestions if s.line == 5]
            assert read.diff is not None
            await anyio.run_process(["git", "-C", str(seeded), "apply", "-"],
                                    input=read.diff.encode())  # fmt: skip
            fixed = await check_catalog(db, catalog, ["commands"], use_lint=False)
            playbook.write_text(original)
            regressed = await check_catalog(db, catalog, ["commands"], use_lint=False)
            implemented = await list_suggestions(
                db, catalog=str(catalog.root), status=["implemented"]
            )
    assert fixed.recorded.implemented == (read.id,)
    assert read.id not in {s.id for s in fixed.suggestions}
    assert [s.id for s in implemented] == [read.id]
    [reopened] = [s for s in regressed.suggestions if s.line == 5]
    assert reopened.id != read.id
    assert regressed.recorded.opened == (reopened.id,)


async def test_checking_some_entries_leaves_the_other_entries_suggestions_alone(
    pg_dsn: str, seeded: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(seeded)
    with anyio.fail_after(60):
        async with opened(pg_dsn, tmp_path) as store:
            await check_catalog(store.database, catalog, use_lint=False)
            partial = await check_catalog(store.database, catalog, ["commands"], use_lint=False)
            still = await list_suggestions(
                store.database, catalog=str(catalog.root), status=["open"]
            )
    assert partial.recorded.implemented == ()
    assert {s.entry for s in partial.suggestions} == {"commands"}
    assert len(still) == len(EXPECTED)


async def test_an_entry_the_catalog_lacks_is_refused(
    pg_dsn: str, seeded: Path, tmp_path: Path
) -> None:
    catalog = load_catalog(seeded)
    with anyio.fail_after(60):
        async with opened(pg_dsn, tmp_path) as store:
            with pytest.raises(UnknownEntry, match="the catalog has no entry 'nope'"):
                await check_catalog(store.database, catalog, ["nope"], use_lint=False)


@pytest.mark.slow
async def test_ansible_lint_findings_are_stored_next_to_chiffons_and_not_twice(
    machine_dsn: str, seeded: Path, tmp_path: Path, lint_cache: Path
) -> None:
    catalog = load_catalog(seeded)
    with anyio.fail_after(240):
        async with opened(machine_dsn, tmp_path) as store:
            report = await check_catalog(store.database, catalog, lint_cache=lint_cache)
    by_source = {(s.source, s.rule, s.path, s.line) for s in report.suggestions}
    assert ("ansible-lint", "command-instead-of-shell", "playbooks/commands.yml", 9) in by_source
    assert ("ansible-lint", "no-handler", "playbooks/restarts.yml", 19) in by_source
    # Chiffon's own rule says it, with a fix: ansible-lint's no-changed-when is not repeated.
    assert not any(s.rule == "no-changed-when" and s.path == "playbooks/commands.yml"
                   and s.line in (5, 9, 12) for s in report.suggestions)  # fmt: skip
    assert not any(s.rule == "no-changed-when" and s.path == "playbooks/restarts.yml"
                   for s in report.suggestions)  # fmt: skip
    [shell] = [s for s in report.suggestions if s.rule == "command-instead-of-shell"]
    assert shell.entry == "commands"
    assert "docs.ansible.com/projects/lint/rules/command-instead-of-shell" in shell.fix


@pytest.mark.slow
async def test_when_ansible_lint_cannot_run_its_suggestions_are_kept_and_the_reason_given(
    machine_dsn: str,
    seeded: Path,
    tmp_path: Path,
    lint_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = load_catalog(seeded)
    with anyio.fail_after(240):
        async with opened(machine_dsn, tmp_path) as store:
            first = await check_catalog(store.database, catalog, lint_cache=lint_cache)
            monkeypatch.setattr(importlib.import_module("chiffon.playbooks.lint"), "_memory", {})
            monkeypatch.setattr(sys, "executable", str(seeded / "no-such-python"))
            second = await check_catalog(store.database, catalog, lint_cache=tmp_path / "empty")
    assert second.lint_error is not None
    assert "cannot start" in second.lint_error
    assert second.recorded.implemented == ()
    linted = {s.id for s in first.suggestions if s.source == "ansible-lint"}
    assert linted
    assert linted <= {s.id for s in second.suggestions}


@pytest.mark.slow
async def test_a_cache_only_check_starts_no_ansible_lint_and_leaves_its_suggestions_alone(
    machine_dsn: str,
    seeded: Path,
    tmp_path: Path,
    lint_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = load_catalog(seeded)
    with anyio.fail_after(240):
        async with opened(machine_dsn, tmp_path) as store:
            first = await check_catalog(
                store.database, catalog, ["commands"], lint_cache=lint_cache
            )
            monkeypatch.setattr(importlib.import_module("chiffon.playbooks.lint"), "_memory", {})
            monkeypatch.setattr(sys, "executable", str(seeded / "no-such-python"))
            warm = await check_catalog(
                store.database, catalog, ["commands"], lint_cache=lint_cache,
                lint_cached_only=True,
            )  # fmt: skip
            monkeypatch.setattr(importlib.import_module("chiffon.playbooks.lint"), "_memory", {})
            cold = await check_catalog(
                store.database, catalog, ["commands"], lint_cache=tmp_path / "empty",
                lint_cached_only=True,
            )  # fmt: skip
    assert (warm.lint_error, warm.lint_pending) == (None, ())
    assert [s.id for s in warm.suggestions] == [s.id for s in first.suggestions]
    assert (cold.lint_error, cold.lint_pending) == (None, ("playbooks/commands.yml",))
    assert cold.recorded.implemented == ()
