"""Putting a checked, generated entry into a catalog directory, all or nothing.

The entry's directory is copied next to its final place and renamed into it (one rename: it
appears whole or not at all), then its entry is appended to ``catalog.yml`` (written to a
temporary file and renamed over it), then the catalog is loaded again to prove it. Any failure
puts ``catalog.yml`` back as it was and removes the directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from chiffon.catalog import Catalog, CatalogEntry, load_catalog
from chiffon.catalog.matching import tokenize
from chiffon.errors import ChiffonError
from chiffon.playbooks.generation.catalog_file import appended
from chiffon.playbooks.generation.errors import AlreadyInCatalog, CatalogNotAppendable
from chiffon.playbooks.generation.scaffold import entry_directory


def check_new(name: str, catalog: Catalog) -> None:
    """Raises ``AlreadyInCatalog`` when ``catalog`` already has ``name``: as an entry id, as
    a service or synonym of an entry, or as a directory ``generated/<name>``."""
    key = "".join(t.key for t in tokenize(name))
    for entry in catalog.entries.values():
        if entry.id == name:
            raise AlreadyInCatalog(name, f"catalog.yml has an entry {name!r}")
        if name in entry.services:
            raise AlreadyInCatalog(name, f"entry {entry.id!r} deploys it")
        if any("".join(t.key for t in tokenize(s)) == key for s in entry.synonyms):
            raise AlreadyInCatalog(name, f"entry {entry.id!r} answers to that name")
    directory = catalog.root / entry_directory(name)
    if directory.exists():
        raise AlreadyInCatalog(name, f"{directory} exists")


def add_to_catalog(root: Path, source: Path, entry: CatalogEntry) -> Catalog:
    """Install ``entry``, whose files are under ``source`` (``source/generated/<id>/…``), into
    the catalog directory ``root``; the catalog loaded again, with it.

    Raises ``CatalogError`` when the catalog does not load (before or after),
    ``AlreadyInCatalog`` when it has the entry already, ``CatalogNotAppendable`` when
    ``catalog.yml`` cannot take it, and ``OSError`` when files cannot be written. On any of
    these the catalog directory is left as it was.
    """
    root = root.resolve()
    before = load_catalog(root)
    check_new(entry.id, before)
    index = root / "catalog.yml"
    original = index.read_text()
    text = appended(original, entry, path=str(index))
    relative = entry_directory(entry.id)
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{entry.id}.", dir=target.parent))
    try:
        shutil.copytree(source / relative, partial, dirs_exist_ok=True)
        partial.chmod(0o755)
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    try:
        _replace(index, text)
        return _reloaded(root, entry)
    except BaseException:
        _replace(index, original)
        shutil.rmtree(target, ignore_errors=True)
        raise


def _reloaded(root: Path, entry: CatalogEntry) -> Catalog:
    index = str(root / "catalog.yml")
    try:
        after = load_catalog(root)
    except ChiffonError as exc:
        raise CatalogNotAppendable(index, f"it does not load with the entry: {exc}") from exc
    if after.entries.get(entry.id) != entry:
        raise CatalogNotAppendable(index, "the entry read back differs from the one written")
    return after


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    if path.exists():
        shutil.copymode(path, temporary)
    temporary.replace(path)
