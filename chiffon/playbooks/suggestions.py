"""A check of a catalog's playbooks: Chiffon's rules, ansible-lint, and the runs' records,
stored as suggestions.

``check_catalog`` is what ``chiffon playbooks check`` and the review after ``chiffon run``
call. Each part is timed; ansible-lint, the slow part, is cached by the files' digest.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from chiffon.catalog import Catalog
from chiffon.database import Database
from chiffon.playbooks.errors import LintUnavailable, UnknownEntry
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.idempotence import rerun_changes
from chiffon.playbooks.lint import LintFinding, cached_lint, collapsed, lint, missing_collection
from chiffon.playbooks.rules import run_rules
from chiffon.playbooks.scope import Scope
from chiffon.playbooks.store import Recorded, Suggestion, list_suggestions, record_check

# ansible-lint rules Chiffon's own rules cover with a fix: the same finding is shown once.
_COVERED = {"no-changed-when": ("command-without-guard", "restart-without-handler")}
_LINT_WHY = {
    "yaml": "Consistent YAML is easier to review; some of these are parse traps.",
    "name": "Task and play names are what the run output, the audit and handlers refer to.",
    "fqcn": "A short module name can resolve to a different collection's module.",
    "risky-file-permissions": "A file created without `mode` gets whatever the umask gives.",
    "command-instead-of-module": "A module checks the state before acting; a command does not.",
    "command-instead-of-shell": "The shell adds quoting and injection risks a command avoids.",
    "no-handler": "A task run when another changed is what a handler is for.",
    "syntax-check": "ansible-playbook refuses this playbook.",
    "load-failure": "ansible-lint could not read this file.",
}


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What a check found and stored.

    ``suggestions`` are the open ones of the checked scope after the check, by file and
    line; ``lint_error`` says why ansible-lint's findings are missing, if they are;
    ``seconds`` times each part (rules, lint, records, store); ``lint_pending`` names the
    playbooks a cache-only check found no ansible-lint result for.
    """

    catalog: str
    entries: tuple[str, ...]
    suggestions: list[Suggestion]
    recorded: Recorded
    lint_error: str | None = None
    seconds: Mapping[str, float] = field(default_factory=dict)
    lint_pending: tuple[str, ...] = ()


async def check_catalog(
    db: Database,
    catalog: Catalog,
    entry_ids: Sequence[str] | None = None,
    *,
    pins: Mapping[str, str] | None = None,
    lint_cache: Path | None = None,
    use_lint: bool = True,
    lint_cached_only: bool = False,
    run_id: uuid.UUID | None = None,
) -> CheckReport:
    """Check ``entry_ids`` of ``catalog`` (every entry and the shared inventory files when
    ``None``) and store the result as suggestions.

    ``pins`` (image repository → tag) let ``image-unpinned`` write its diff; ``lint_cache``
    keeps ansible-lint's results across processes; with ``lint_cached_only`` ansible-lint
    is not started, and only its cached results count (the playbooks it has not seen are
    in ``lint_pending``); ``run_id`` names the run whose review this is. When ansible-lint
    cannot run, or did not for every playbook, its earlier suggestions are left as they are;
    ``lint_error`` says why it could not.

    Raises ``UnknownEntry`` for an id the catalog does not have, ``UnreadableFile`` when
    ``catalog.yml`` or a playbook cannot be read, ``LintOutsideRoot`` for a playbook outside
    the catalog, and what the ``Database`` raises.
    """
    unknown = [e for e in entry_ids or () if e not in catalog.entries]
    if unknown:
        raise UnknownEntry(unknown, sorted(catalog.entries))
    shared = entry_ids is None
    entries = tuple(dict.fromkeys(entry_ids)) if entry_ids is not None else tuple(catalog.entries)
    # The rules and ansible-lint read Ansible playbooks: another executor's file (a
    # shell-check entry's probes) is not one, and is checked by its executor instead.
    entries = tuple(e for e in entries if catalog.entries[e].executor == "ansible")
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    scope = Scope(catalog)
    findings = await anyio.to_thread.run_sync(
        lambda: run_rules(catalog, entries, pins=pins, shared=shared, scope=scope)
    )
    seconds["rules"] = time.perf_counter() - started
    sources = {"chiffon"}
    lint_error = None
    pending: list[str] = []
    if use_lint:
        started = time.perf_counter()
        paths = [catalog.playbook_path(e) for e in entries]
        try:
            if lint_cached_only:
                linted, pending = await cached_lint(paths, root=catalog.root, cache_dir=lint_cache)
            else:
                linted = await lint(paths, root=catalog.root, cache_dir=lint_cache)
        except LintUnavailable as exc:
            lint_error = str(exc)
        else:
            if not pending:
                sources.add("ansible-lint")
            findings.extend(await anyio.to_thread.run_sync(_from_lint, scope, linted))
        seconds["lint"] = time.perf_counter() - started
    started = time.perf_counter()
    findings.extend(await rerun_changes(db, catalog, entries))
    seconds["records"] = time.perf_counter() - started
    started = time.perf_counter()
    findings = _without_covered(findings)
    root = str(catalog.root)
    recorded = await record_check(
        db, catalog=root, findings=findings, entries=entries, shared=shared,
        sources=sources, run_id=run_id,
    )  # fmt: skip
    # A review of some entries shows the shared files' suggestions of the files they read.
    files = None if shared else await anyio.to_thread.run_sync(scope.paths_of, entries)
    current = await list_suggestions(
        db, catalog=root, status=("open",), entries=entries, paths=files, limit=None
    )
    seconds["store"] = time.perf_counter() - started
    return CheckReport(root, entries, current, recorded, lint_error, seconds, tuple(pending))


def _from_lint(scope: Scope, linted: Sequence[LintFinding]) -> list[Finding]:
    counts: dict[tuple[str, str, str], int] = {}
    found = []
    for item in collapsed(linted):
        mark = (item.path, item.rule, item.message)
        counts[mark] = counts.get(mark, 0) + 1
        family = item.rule.split("[", 1)[0]
        url = f"https://docs.ansible.com/projects/lint/rules/{family}/"
        missing = missing_collection(item)
        found.append(
            Finding(
                rule=item.rule,
                source="ansible-lint",
                path=item.path,
                line=item.line,
                message=item.message,
                why=_LINT_WHY.get(family, "ansible-lint, Ansible's own linter, reports it.")
                if missing is None
                else "Ansible cannot load a playbook whose modules it cannot find: every run "
                "of it fails before a task runs.",
                fix=f"See {url}"
                if missing is None
                else f"Install it: ansible-galaxy collection install {missing} (or the "
                "repository's requirements: ansible-galaxy install -r requirements.yml).",
                key=f"collection {missing}"
                if missing is not None
                else f"{item.message}\0{counts[mark]}",
                entry=scope.owner(item.path, None),
                severity=item.severity,
            )
        )
    return found


def _without_covered(findings: list[Finding]) -> list[Finding]:
    ours = {(f.rule, f.path, f.line) for f in findings if f.source == "chiffon"}
    # Chiffon's collection-missing says it once for every module of the collection.
    collections = {f"collection {f.key}" for f in findings if f.rule == "collection-missing"}
    return [
        f
        for f in findings
        if f.source == "chiffon"
        or (
            f.key not in collections
            and not any(
                (rule, f.path, f.line) in ours for rule in _COVERED.get(f.rule.split("[", 1)[0], ())
            )
        )
    ]
