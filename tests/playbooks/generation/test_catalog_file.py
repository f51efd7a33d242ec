"""An entry appended to catalog.yml as text: every byte before it kept (comments too), the
catalog loads with it; and an install that cannot finish leaves the catalog as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from chiffon.catalog import Catalog, CatalogEntry, load_catalog
from chiffon.playbooks.generation.catalog_file import appended
from chiffon.playbooks.generation.errors import AlreadyInCatalog, CatalogNotAppendable
from chiffon.playbooks.generation.install import add_to_catalog, check_new
from chiffon.playbooks.generation.known import known_services
from chiffon.playbooks.generation.scaffold import catalog_entry, write
from chiffon.playbooks.generation.spec import service_spec
from tests.playbooks.generation.conftest import snapshot

SPEC = service_spec(
    "my-notes",
    image="ghcr.io/example/notes:1.4.2",
    port=8090,
    env={"TZ": "Etc/UTC", "ADMIN_TOKEN": "tok: #not-a-comment", "EMPTY": ""},
)


def entry(hosts: str = "monitoring") -> CatalogEntry:
    return catalog_entry(SPEC, hosts)


def test_the_entry_is_appended_after_the_last_one_and_every_byte_before_is_kept(
    catalog_dir: Path,
) -> None:
    index = catalog_dir / "catalog.yml"
    before = index.read_text()
    index.write_text(appended(before, entry()))
    text = index.read_text()
    assert text.startswith(before)
    assert text[len(before) :].startswith("\n  - id: my-notes\n    playbook: generated/my-notes/")
    loaded = load_catalog_with_playbook(catalog_dir)
    assert loaded.entries["my-notes"] == entry()
    assert list(loaded.entries)[-1] == "my-notes"


def test_a_second_entry_follows_the_first_and_table_entries_read_back_equal(
    catalog_dir: Path,
) -> None:
    index = catalog_dir / "catalog.yml"
    text = index.read_text()
    installed = load_catalog(catalog_dir).entries  # the table's services it lacks
    expected = [
        e for e in (catalog_entry(k.spec(), "storage") for k in known_services())
        if e.id not in installed
    ]  # fmt: skip
    assert expected
    for e in expected:
        text = appended(text, e)
    index.write_text(text)
    for e in expected:
        write_playbook(catalog_dir, e)
    loaded = load_catalog(catalog_dir)
    assert [loaded.entries[e.id] for e in expected] == expected


def test_entries_followed_by_other_keys_and_comments_get_the_entry_at_their_end() -> None:
    text = (
        "# a catalog\nentries:\n- id: a\n  playbook: a.yml\n  description: |\n    two\n"
        "    lines\n  hosts: all   # the default\n\n# the inventory:\ninventory: inv.yml\n"
    )
    result = appended(text, entry())
    assert result.startswith(text.split("\n# the inventory")[0])
    assert result.endswith("  risk: medium\n\n# the inventory:\ninventory: inv.yml\n")
    assert "\n- id: my-notes\n  playbook:" in result


@pytest.mark.parametrize(
    "text",
    ["entries: []\n", "entries: [{id: a}]\n", "version: 1\n", "- a\n- b\n", "entries: [\n"],
)
def test_a_catalog_whose_entries_are_not_a_block_list_is_refused(text: str) -> None:
    with pytest.raises(CatalogNotAppendable, match=r"cannot add an entry to catalog\.yml"):
        appended(text, entry())


def test_an_install_into_a_catalog_that_cannot_take_it_leaves_nothing_behind(
    catalog_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "work"
    scaffold = write(SPEC, "monitoring", source)
    index = catalog_dir / "catalog.yml"
    flow = "version: 1\ninventory: inventory.yml\nentries: []\n"
    index.write_text(flow)
    before = snapshot(catalog_dir)
    with pytest.raises(CatalogNotAppendable, match="block-style list"):
        add_to_catalog(catalog_dir, source, scaffold.entry)
    assert snapshot(catalog_dir) == before
    assert not (catalog_dir / "generated").exists() or not any(
        (catalog_dir / "generated").iterdir()
    )


def test_an_install_whose_entry_breaks_the_catalog_is_rolled_back(
    catalog_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "work"
    scaffold = write(SPEC, "monitoring", source)
    # Valid as an entry, but it names a group the inventory lacks: the catalog refuses it.
    broken = scaffold.entry.model_copy(update={"hosts": "kitchen"})
    before = snapshot(catalog_dir)
    with pytest.raises(CatalogNotAppendable, match="it does not load with the entry"):
        add_to_catalog(catalog_dir, source, broken)
    after = snapshot(catalog_dir)
    assert after == before


def test_a_service_the_catalog_has_by_id_service_or_synonym_is_already_there(
    catalog_dir: Path,
) -> None:
    catalog = load_catalog(catalog_dir)
    for name, where in (
        ("grafana", "catalog.yml has an entry 'grafana'"),
        ("kuma", "entry 'uptime-kuma' answers to that name"),
        ("pi-hole", "entry 'pihole' answers to that name"),
    ):
        with pytest.raises(AlreadyInCatalog, match=f'"{name}" is already in the catalog: {where}'):
            check_new(name, catalog)
    (catalog_dir / "generated" / "my-notes").mkdir(parents=True)
    with pytest.raises(AlreadyInCatalog, match="generated/my-notes exists"):
        check_new("my-notes", catalog)


def write_playbook(root: Path, e: CatalogEntry) -> None:
    path = root / e.playbook
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("- name: Placeholder\n  hosts: all\n  tasks: []\n")


def load_catalog_with_playbook(root: Path) -> Catalog:
    write_playbook(root, entry())
    return load_catalog(root)
