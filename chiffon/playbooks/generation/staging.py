"""Generated entries in a run's life: staged while the plan awaits approval, installed into the
catalog when it is approved, discarded when the run ends without it.

A run's staging directory (``CHIFFON_HOME/generated/<run id>/``, passed in) is laid out like
a catalog root: ``generated/<name>/…`` plus ``<name>.entry.json``, the entry's metadata. The
staged entry joins the process's shared ``Catalog`` (``Catalog.stage``) with the digest it will
keep once installed, so the plan's hash covers the generated files and the agent refuses them
if they change. Approval copies the directory into the catalog and appends the entry to
``catalog.yml`` (``install.add_to_catalog``); the run's end removes what is left.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path, PurePosixPath

import anyio

from chiffon.catalog import Catalog, CatalogEntry
from chiffon.catalog.errors import CatalogError
from chiffon.playbooks.generation.checks import CheckTimes, check_playbook
from chiffon.playbooks.generation.errors import GeneratedChanged
from chiffon.playbooks.generation.install import add_to_catalog, check_new
from chiffon.playbooks.generation.scaffold import GENERATED, Scaffold, entry_directory, write
from chiffon.playbooks.generation.spec import ServiceSpec, default_target
from chiffon.protocol import Plan


@dataclasses.dataclass(frozen=True, slots=True)
class StagedEntry:
    """A generated entry awaiting approval."""

    scaffold: Scaffold
    root: Path
    checks: CheckTimes


async def stage_service(
    spec: ServiceSpec,
    catalog: Catalog,
    root: Path,
    owner: str,
    *,
    lint_cache: Path | None = None,
) -> StagedEntry:
    """Generate ``spec`` under ``root`` (the run's staging directory), check it, and stage it
    in ``catalog`` for ``owner`` (the run id).

    Raises ``AlreadyInCatalog``, ``UnknownTarget``, ``ChecksFailed``, ``LintUnavailable``,
    ``CatalogError`` and ``OSError``; the entry's staged files are removed when any is raised.
    """
    check_new(spec.name, catalog)
    hosts = default_target(spec, catalog)
    root = await anyio.to_thread.run_sync(root.resolve)
    directory = root / entry_directory(spec.name)
    manifest = root / f"{spec.name}.entry.json"
    await anyio.to_thread.run_sync(_remove, directory, manifest)
    try:
        scaffold = await anyio.to_thread.run_sync(write, spec, hosts, root)
        checks = await check_playbook(
            spec.name,
            root,
            PurePosixPath(scaffold.entry.playbook),
            catalog.inventory.path,
            lint_cache=lint_cache,
        )
        await anyio.to_thread.run_sync(manifest.write_text, scaffold.entry.model_dump_json())
        catalog.stage(scaffold.entry, root, owner)
    except BaseException:
        await anyio.to_thread.run_sync(_remove, directory, manifest)
        await anyio.to_thread.run_sync(_prune, root)
        raise
    return StagedEntry(scaffold, root, checks)


async def install_staged(catalog: Catalog, plan: Plan) -> list[str]:
    """Install every staged entry an approved ``plan`` runs into the catalog directory; their
    ids. Call it on approval, before the steps are dispatched.

    Raises ``GeneratedChanged`` when a staged entry's files no longer match the step's
    approved digest (nothing of it is installed), and what ``add_to_catalog`` raises.
    """
    installed: list[str] = []
    for step in plan.steps:
        root = catalog.staged(step.playbook)
        if root is None or step.playbook in installed:
            continue
        current = await anyio.to_thread.run_sync(catalog.digest, step.playbook)
        if current != step.digest:
            raise GeneratedChanged(step.playbook, step.digest, current)
        entry = catalog.entries[step.playbook]
        await anyio.to_thread.run_sync(add_to_catalog, catalog.root, root, entry)
        catalog.mark_installed(step.playbook)
        current = await anyio.to_thread.run_sync(catalog.digest, step.playbook)
        if current != step.digest:  # the install copied something else: refuse to run it
            raise GeneratedChanged(step.playbook, step.digest, current)
        await anyio.to_thread.run_sync(
            _remove, root / entry_directory(entry.id), root / f"{entry.id}.entry.json"
        )
        await anyio.to_thread.run_sync(_prune, root)
        installed.append(step.playbook)
    return installed


async def discard_staged(catalog: Catalog, owner: str, root: Path | None = None) -> list[str]:
    """Forget what ``owner`` (a run id) staged and did not install, and remove its staging
    directory (``root``, when given, is removed even if nothing is staged); the ids
    discarded. Call it when the run ends, whatever its outcome."""
    ids = catalog.staged_by(owner)
    roots = {root} if root is not None else set()
    for entry_id in ids:
        staged = catalog.staged(entry_id)
        if staged is not None:
            roots.add(staged)
        catalog.unstage(entry_id)
    for directory in roots:
        await anyio.to_thread.run_sync(_remove, directory)
    return ids


def restore_staged(catalog: Catalog, generated_dir: Path) -> list[str]:
    """Stage again what runs staged under ``generated_dir`` before this process started (a
    run awaiting approval whose process stopped): its ids. An entry the catalog now has is
    left out."""
    restored: list[str] = []
    if not generated_dir.is_dir():
        return restored
    for run_dir in sorted(p for p in generated_dir.iterdir() if p.is_dir()):
        for manifest in sorted(run_dir.glob("*.entry.json")):
            try:
                entry = CatalogEntry.model_validate_json(manifest.read_text())
                if entry.id not in catalog.entries:
                    catalog.stage(entry, run_dir, run_dir.name)
                    restored.append(entry.id)
            except (OSError, ValueError, CatalogError):
                continue  # a broken leftover is not worth failing a start for
    return restored


def _remove(*paths: Path) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _prune(root: Path) -> None:
    """Remove the staging root's ``generated`` folder, then the root, when they are empty."""
    for folder in (root / GENERATED, root):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
