"""``chiffon catalog import``: a ``catalog.yml`` drafted from an Ansible repository as it is
(``reading``: what the repository holds; ``drafting``: the entries; ``writing``: the text).
The repository is only read."""

from __future__ import annotations

from pathlib import Path

from chiffon.catalog.importing.drafting import Draft, DraftEntry, draft_catalog, entry_id
from chiffon.catalog.importing.reading import Repository, read_repository
from chiffon.catalog.importing.writing import render


def import_repository(root: Path | str) -> tuple[str, Draft, Repository]:
    """The drafted ``catalog.yml`` text for the repository at ``root``, the draft, and what
    was read. Raises ``CatalogError`` when ``root`` holds no playbook."""
    repo = read_repository(root)
    groups = None
    if repo.inventory is not None:
        groups, problem = _inventory_groups(repo.root / repo.inventory)
        if problem:
            repo.notes.append(problem)
    draft = draft_catalog(repo, groups)
    return render(draft, repo), draft, repo


def _inventory_groups(path: Path) -> tuple[dict[str, tuple[str, ...]] | None, str | None]:
    from chiffon.catalog.errors import CatalogError
    from chiffon.catalog.inventory import load_inventory

    try:
        return dict(load_inventory(path).groups), None
    except CatalogError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"inventory {path.name} not read: {first}"


__all__ = [
    "Draft",
    "DraftEntry",
    "Repository",
    "draft_catalog",
    "entry_id",
    "import_repository",
    "read_repository",
    "render",
]
