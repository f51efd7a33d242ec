"""``collection-missing``: a module of a collection that is not installed where Ansible looks
(``community.docker.docker_container`` with no ``community.docker``).

Reported once per collection, for the repository (no entry): at the collection's line in
``requirements.yml`` when it lists it, else at its first use. Every playbook using it fails
to load, so one finding says it for all of them.
"""

from __future__ import annotations

import configparser
import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from chiffon.playbooks.documents import Items, Node, load_document
from chiffon.playbooks.errors import UnreadableFile
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.rules.context import Context

RULE = "collection-missing"
_CORE = frozenset({"ansible.builtin", "ansible.legacy", "ansible._protomatter"})
_REQUIREMENTS = ("requirements.yml", "collections/requirements.yml", "requirements.yaml")

WHY = (
    "Ansible cannot load a playbook that uses a module it cannot find: every run of it fails "
    "before its first task, on every host."
)


@functools.cache
def installed(root: str) -> frozenset[str]:
    """The collections (``namespace.name``) found where Ansible looks for them from a
    repository at ``root``: ANSIBLE_COLLECTIONS_PATH, ansible.cfg's collections_path, the
    repository's ``collections/``, the user's and the system's folders, and Python's path."""
    places = [
        *os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep),
        *os.environ.get("ANSIBLE_COLLECTIONS_PATHS", "").split(os.pathsep),
        *_configured(Path(root)),
        str(Path(root) / "collections"),
        str(Path.home() / ".ansible" / "collections"),
        "/usr/share/ansible/collections",
        *sys.path,
    ]
    found: set[str] = set()
    for place in filter(None, places):
        base = Path(place).expanduser()
        base = base if base.name == "ansible_collections" else base / "ansible_collections"
        if not base.is_dir():
            continue
        for namespace in base.iterdir():
            if namespace.is_dir():
                names = (c.name for c in namespace.iterdir() if c.is_dir())
                found.update(f"{namespace.name}.{name}" for name in names)
    return frozenset(found)


def _configured(root: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string((root / "ansible.cfg").read_text())
    except (OSError, UnicodeDecodeError, configparser.Error):
        return []
    if not parser.has_section("defaults"):
        return []
    defaults = parser["defaults"]
    value = defaults.get("collections_path") or defaults.get("collections_paths") or ""
    return [str(root / p.strip()) for p in value.split(os.pathsep) if p.strip()]


def check(context: Context) -> Iterator[Finding]:
    root = context.catalog.root
    have = installed(str(root))
    uses: dict[str, list[tuple[str, int, str]]] = {}
    for task in context.book.tasks:
        parts = task.module.split(".")
        if len(parts) < 3:
            continue
        collection = ".".join(parts[:2])
        if collection in _CORE or collection in have:
            continue
        uses.setdefault(collection, []).append((task.document.path, task.data.line, task.module))
    if not uses:
        return
    listed = _listed(root)
    for collection, places in uses.items():
        path, line, module = places[0]
        where = listed.get(collection)
        fix = f"Install it: ansible-galaxy collection install {collection}"
        if where is not None:
            path, line = where
            fix = f"Install the repository's requirements: ansible-galaxy install -r {path}"
        yield Finding(
            rule=RULE,
            source="chiffon",
            path=path,
            line=line,
            message=f"collection {collection} is not installed: {module} and the other "
            f"modules of it cannot be found",
            why=WHY,
            fix=fix + " (where the agent's Ansible finds it).",
            key=collection,
            entry=None,
            severity="error",
        )


def _listed(root: Path) -> dict[str, tuple[str, int]]:
    """Collection -> (requirements file, line) of the ones a requirements file lists."""
    for relative in _REQUIREMENTS:
        if not (root / relative).is_file():
            continue
        try:
            data = load_document(root, relative).data
        except UnreadableFile:
            return {}
        items = data.get("collections") if isinstance(data, Node) else None
        found: dict[str, tuple[str, int]] = {}
        for index, item in enumerate(items if isinstance(items, Items) else []):
            name = item.get("name") if isinstance(item, Node) else item
            line = items.span[index][0] if isinstance(items, Items) else 1
            if isinstance(name, str):
                found[name] = (relative, line)
        return found
    return {}
