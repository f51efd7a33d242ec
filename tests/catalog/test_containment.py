"""A catalog entry's playbook resolves inside the catalog root, or the catalog is refused at
load naming the entry (issue 16: ``../../outside.yml`` and a symlink to a file outside were
accepted and planned; ``/etc/passwd`` was a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chiffon.catalog import CatalogError, load_catalog
from chiffon.catalog.checking import check_catalog_file

CATALOG = """\
version: 1
inventory: inventory.yml
entries:
  - id: web
    playbook: {playbook}
    description: The web server.
    hosts: web
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    (root / "playbooks").mkdir(parents=True)
    (root / "inventory.yml").write_text("all:\n  children:\n    web:\n      hosts:\n        w1:\n")
    (root / "playbooks" / "web.yml").write_text("- hosts: web\n  tasks: []\n")
    (tmp_path / "outside.yml").write_text("- hosts: all\n  tasks: []\n")
    (root / "playbooks" / "linked.yml").symlink_to(tmp_path / "outside.yml")
    (root / "playbooks" / "inner-link.yml").symlink_to(root / "playbooks" / "web.yml")
    return root


@pytest.mark.parametrize(
    "playbook", ["../outside.yml", "playbooks/../../outside.yml", "playbooks/linked.yml"]
)
def test_a_playbook_outside_the_catalog_is_refused_at_load_naming_the_entry(
    root: Path, playbook: str
) -> None:
    (root / "catalog.yml").write_text(CATALOG.format(playbook=playbook))

    with pytest.raises(CatalogError) as caught:
        load_catalog(root)

    assert str(caught.value) == (
        f"{root / 'catalog.yml'}:5: entry 'web': playbook {playbook} is outside the catalog "
        f"(it resolves to {root.parent / 'outside.yml'}): an entry's files stay under {root}"
    )
    problems, _ = check_catalog_file(root)
    assert [(p.line, p.message) for p in problems] == [
        (5, f"entry 'web': playbook {playbook} is outside the catalog "
            f"({root.parent / 'outside.yml'})"),
    ]  # fmt: skip


def test_an_absolute_playbook_path_is_refused_not_a_traceback(root: Path) -> None:
    (root / "catalog.yml").write_text(CATALOG.format(playbook="/etc/passwd"))

    with pytest.raises(CatalogError, match="playbook /etc/passwd is outside the catalog"):
        load_catalog(root)


def test_a_symlink_that_stays_inside_the_catalog_is_accepted(root: Path) -> None:
    (root / "catalog.yml").write_text(CATALOG.format(playbook="playbooks/inner-link.yml"))

    catalog = load_catalog(root)

    assert catalog.digest("web").startswith("sha256:")
