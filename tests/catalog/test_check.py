"""``chiffon catalog check``: every problem of a catalog, each with its file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chiffon.catalog import CatalogError, load_catalog
from chiffon.catalog.checking import check_catalog_file

ROOT = Path(__file__).parent.parent.parent
INVENTORY = """\
all:
  children:
    web:
      hosts:
        web1:
"""
CATALOG = """\
version: 1
inventory: inventory.yml
colour: blue
entries:
  - id: web
    playbook: web.yml
    description: The web server.
    hosts: web
    variables:
      port: {type: int, default: "eighty"}
      mode: {type: str, default: fast, choices: [slow, medium]}
      size: {type: str, default: big, pattern: "^[0-9]+$"}
  - id: Bad_Id
    playbook: web.yml
    description: An id with capitals.
    hosts: web
  - id: web
    playbook: web.yml
    description: Twice.
    hosts: web
  - id: db
    playbook: db.yml
    description: The database.
    hosts: databases
    after: [cache]
    risk: extreme
  - id: flagged
    playbook: web.yml
    description: A flag that is a variable too.
    hosts: web
    flags: {web_enabled: true}
    variables:
      web_enabled: {type: bool}
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    (tmp_path / "web.yml").write_text("- hosts: web\n  tasks: []\n")
    (tmp_path / "catalog.yml").write_text(CATALOG)
    return tmp_path


def test_every_problem_is_listed_with_its_line(catalog: Path) -> None:
    problems, _ = check_catalog_file(catalog)
    index = str(catalog / "catalog.yml")

    assert all(p.path == index for p in problems)
    assert [(p.line, p.message) for p in problems] == [
        (3, "unknown key 'colour' (a catalog has version, inventory, entries)"),
        (10, "entry 'web': port: default 'eighty' is not of its type int"),
        (11, "entry 'web': mode: default 'fast' is not one of its choices ['slow', 'medium']"),
        (12, "entry 'web': size: default 'big' does not match its pattern '^[0-9]+$'"),
        (13, "entry 'Bad_Id': id: String should match pattern '^[a-z0-9][a-z0-9-]{0,62}$'"),
        (17, "entry 'web': id appears twice (first on line 5)"),
        (26, "entry 'db': risk: Input should be 'low', 'medium' or 'high'"),
        (27, "entry 'flagged': entry: 'web_enabled' is both a flag (fixed) and a variable "
             "(set by plans): keep one"),
    ]  # fmt: skip


def test_references_playbooks_and_hosts_are_checked_on_entries_that_are_valid(
    catalog: Path,
) -> None:
    text = CATALOG.replace("    risk: extreme\n", "")
    (catalog / "catalog.yml").write_text(text)

    problems, count = check_catalog_file(catalog / "catalog.yml")

    assert count == 2
    assert [(p.line, p.message) for p in problems if "'db'" in p.message] == [
        (22, "entry 'db': playbook db.yml is missing"),
        (24, "entry 'db': hosts 'databases' is no group or host of inventory.yml"),
        (25, "entry 'db': after names 'cache', which the catalog lacks"),
    ]


def test_a_yaml_syntax_error_is_one_problem_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "catalog.yml").write_text("version: 1\nentries:\n  - id: a\n    tags: [x\n")

    problems, _ = check_catalog_file(tmp_path)

    assert len(problems) == 1
    assert problems[0].line == 5
    assert problems[0].message.startswith("not valid YAML: ")


def test_load_catalog_names_the_line_of_what_it_refuses(catalog: Path) -> None:
    (catalog / "catalog.yml").write_text(CATALOG.replace("colour: blue\n", "").replace(
        "    variables:\n      port", "    risk: extreme\n    variables:\n      port", 1
    ))  # fmt: skip

    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog)

    assert str(caught.value) == (
        f"{catalog / 'catalog.yml'}:8: entry 1: risk: Input should be 'low', 'medium' or 'high'"
    )


def test_the_command_prints_each_problem_and_exits_1_and_0_on_a_valid_catalog(
    catalog: Path,
) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "chiffon", "catalog", "check", str(catalog)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    good = subprocess.run(
        [sys.executable, "-m", "chiffon", "catalog", "check", str(ROOT / "examples/homelab")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0] == (
        f"{catalog / 'catalog.yml'}:3: unknown key 'colour' (a catalog has version, "
        "inventory, entries)"
    )
    assert bad.stderr == "8 problems\n"
    assert good.returncode == 0, good.stdout
    assert good.stdout.endswith("examples/homelab: 11 entries, no problems\n")
