"""The homelab catalog for planning tests: a copy of examples/homelab's catalog.yml and
inventory.yml with a small playbook file for each entry, so planning tests do not depend on
the real playbooks' contents."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from chiffon.catalog import Catalog, load_catalog

HOMELAB = Path(__file__).resolve().parents[2] / "examples" / "homelab"


def copy_homelab(target: Path) -> Path:
    """Copy the homelab's catalog.yml and inventory.yml into ``target`` and write a one-play
    playbook for each entry and each removal; returns ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("catalog.yml", "inventory.yml"):
        shutil.copy(HOMELAB / name, target / name)
    index = yaml.safe_load((HOMELAB / "catalog.yml").read_text())
    for entry in index["entries"]:
        removal = (entry.get("removal") or {}).get("playbook")
        for name, path in ((entry["id"], entry["playbook"]), (f"remove-{entry['id']}", removal)):
            if path is None:
                continue
            playbook = target / path
            playbook.parent.mkdir(parents=True, exist_ok=True)
            playbook.write_text(f"- name: {name}\n  hosts: all\n  tasks: []\n")
    return target


@pytest.fixture(scope="session")
def homelab_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The homelab catalog over placeholder playbooks (shared, read-only)."""
    return load_catalog(copy_homelab(tmp_path_factory.mktemp("homelab")))


@pytest.fixture(scope="session")
def real_homelab() -> Catalog:
    """examples/homelab itself, with its real playbooks."""
    return load_catalog(HOMELAB)
