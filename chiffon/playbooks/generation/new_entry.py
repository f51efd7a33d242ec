"""``chiffon playbooks new``: a service's playbook and role generated into a temporary
directory, checked there, and only then installed into the catalog with its entry.

A failing check (or anything else) leaves the catalog as it was: nothing is written under
the catalog root before the checks have passed.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path, PurePosixPath

import anyio

from chiffon.catalog import CatalogEntry, load_catalog
from chiffon.playbooks.generation.checks import CheckTimes, check_playbook
from chiffon.playbooks.generation.install import add_to_catalog, check_new
from chiffon.playbooks.generation.scaffold import write
from chiffon.playbooks.generation.spec import ServiceSpec, default_target


@dataclasses.dataclass(frozen=True, slots=True)
class NewEntry:
    """What ``new_entry`` installed."""

    entry: CatalogEntry
    root: Path
    files: tuple[PurePosixPath, ...]
    """Relative to ``root``, the catalog directory."""
    digest: str
    checks: CheckTimes
    seconds: float
    """The whole generation: render, checks, install."""
    warnings: tuple[str, ...]


async def new_entry(spec: ServiceSpec, root: Path, *, lint_cache: Path | None = None) -> NewEntry:
    """Generate ``spec``'s playbook and role, check them, and add them to the catalog at
    ``root`` (``generated/<name>/`` and an entry appended to ``catalog.yml``).

    Raises ``CatalogError`` (the catalog does not load), ``AlreadyInCatalog``,
    ``UnknownTarget``, ``ChecksFailed``, ``LintUnavailable``, ``CatalogNotAppendable`` and
    ``OSError``; the catalog directory is unchanged when any is raised.
    """
    started = time.monotonic()
    # File work is small but blocking: it runs off the event loop, like the checks.
    catalog = await anyio.to_thread.run_sync(load_catalog, root)
    check_new(spec.name, catalog)
    hosts = default_target(spec, catalog)
    with tempfile.TemporaryDirectory(prefix="chiffon-new-") as work:
        scaffold = await anyio.to_thread.run_sync(write, spec, hosts, Path(work))
        checks = await check_playbook(
            spec.name,
            Path(work),
            PurePosixPath(scaffold.entry.playbook),
            catalog.inventory.path,
            lint_cache=lint_cache,
        )
        installed = await anyio.to_thread.run_sync(
            add_to_catalog, catalog.root, Path(work), scaffold.entry
        )
    return NewEntry(
        entry=scaffold.entry,
        root=installed.root,
        files=scaffold.files,
        digest=installed.digest(spec.name),
        checks=checks,
        seconds=round(time.monotonic() - started, 3),
        warnings=secret_warnings(spec),
    )


def secret_warnings(spec: ServiceSpec) -> tuple[str, ...]:
    """One sentence per environment value that looks secret: where it went."""
    return tuple(
        f"{env.key} looks secret: it is the variable {env.variable} (secret: true), redacted "
        "wherever shown or stored and templated with no_log; its value is its default in "
        "catalog.yml, so keep that file private or give a real value per run"
        for env in spec.env
        if env.secret
    )
