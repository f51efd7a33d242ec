"""Chiffon's rules over real files: each fires where the seeded catalog breaks it, at the
right file and line, nothing else fires there, nothing fires on the homelab catalog, and each
mechanical fix, applied with git, makes its finding go away and leaves a valid playbook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chiffon.catalog import load_catalog
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.rules import run_rules
from tests.playbooks.conftest import HOMELAB, SEEDED

# rule, file, line, and text that line must hold
EXPECTED = [
    ("command-without-guard", "playbooks/commands.yml", 5, "Read the hostname"),
    ("command-without-guard", "playbooks/commands.yml", 9, "Make the data directory"),
    ("command-without-guard", "playbooks/commands.yml", 12, "Migrate the database"),
    ("plaintext-secret", "catalog.yml", 22, "smtp_password"),
    ("plaintext-secret", "playbooks/secrets.yml", 5, "db_password: hunter2"),
    ("plaintext-secret", "playbooks/templates/secrets/relay.env.j2", 4, "API_TOKEN=ghp_"),
    ("image-unpinned", "catalog.yml", 35, 'cache_image: {type: str, default: "redis"'),
    ("image-unpinned", "playbooks/images.yml", 5, "proxy_image: traefik:latest"),
    ("image-unpinned", "playbooks/templates/images/compose.yaml.j2", 3, "image: nginx:latest"),
    ("restart-without-handler", "playbooks/restarts.yml", 12, "Restart the app"),
    ("hardcoded-hosts", "playbooks/hosts.yml", 2, "hosts: box"),
    ("hardcoded-hosts", "playbooks/hosts.yml", 10, "hosts: 10.0.0.5"),
    ("catalog-metadata[description]", "catalog.yml", 59, 'description: ""'),
    ("catalog-metadata[tags]", "catalog.yml", 57, "id: metadata"),
    ("catalog-metadata[services]", "catalog.yml", 57, "id: metadata"),
    ("catalog-metadata[resources]", "catalog.yml", 57, "id: metadata"),
    ("catalog-metadata[risk]", "catalog.yml", 57, "id: metadata"),
    ("catalog-metadata[variable-description]", "catalog.yml", 62, "greeting:"),
    ("catalog-metadata[unused-variable]", "catalog.yml", 63, "forgotten:"),
    ("catalog-metadata[undeclared-variable]", "playbooks/metadata.yml", 7, "{{ audience }}"),
]


def seeded_findings(root: Path = SEEDED) -> list[Finding]:
    catalog = load_catalog(root)
    return run_rules(catalog, list(catalog.entries))


@pytest.mark.parametrize(("rule", "path", "line", "text"), EXPECTED, ids=[
    f"{rule}@{path}:{line}" for rule, path, line, _ in EXPECTED
])  # fmt: skip
def test_each_rule_fires_where_the_seeded_catalog_breaks_it(
    rule: str, path: str, line: int, text: str
) -> None:
    found = {(f.rule, f.path, f.line) for f in seeded_findings()}
    assert (rule, path, line) in found
    assert text in (SEEDED / path).read_text().splitlines()[line - 1]


def test_nothing_else_fires_on_the_seeded_catalog() -> None:
    found = sorted((f.rule, f.path, f.line) for f in seeded_findings())
    assert found == sorted((rule, path, line) for rule, path, line, _ in EXPECTED)


def test_nothing_fires_on_the_homelab_catalog() -> None:
    catalog = load_catalog(HOMELAB)
    assert run_rules(catalog, list(catalog.entries)) == []


def test_every_finding_says_why_it_matters_and_how_to_fix_it() -> None:
    for finding in seeded_findings():
        assert finding.why.endswith(".")
        assert finding.fix
        assert finding.message
        assert finding.source == "chiffon"


def test_the_stamp_entry_is_clean_to_read() -> None:
    assert [f for f in seeded_findings() if f.entry == "stamp"] == []


def test_a_pinned_tag_makes_the_image_fix_a_diff() -> None:
    catalog = load_catalog(SEEDED)
    found = run_rules(catalog, ["images"], pins={"redis": "7.4.1", "traefik": "3.2.1"})
    diffs = {f.path: f.diff for f in found if f.rule == "image-unpinned"}
    assert '+      cache_image: {type: str, default: "redis:7.4.1"' in (diffs["catalog.yml"] or "")
    assert "+    proxy_image: traefik:3.2.1" in (diffs["playbooks/images.yml"] or "")


def test_without_a_pin_an_image_is_replaced_by_the_catalog_variable_that_pins_it() -> None:
    [finding] = [
        f for f in seeded_findings() if f.path == "playbooks/templates/images/compose.yaml.j2"
    ]
    assert finding.diff is not None
    assert "-    image: nginx:latest\n+    image: {{ web_image }}\n" in finding.diff
    assert "web_image" in finding.fix


def test_a_restart_becomes_a_handler_notified_by_the_configuration_it_reads() -> None:
    [finding] = [f for f in seeded_findings() if f.rule == "restart-without-handler"]
    assert finding.diff is not None
    assert "+      notify: Restart the app\n" in finding.diff
    assert "+  handlers:\n+    - name: Restart the app\n" in finding.diff


FIXABLE = [(rule, path, line) for rule, path, line, _ in EXPECTED if (rule, path, line) in {
    ("command-without-guard", "playbooks/commands.yml", 5),
    ("command-without-guard", "playbooks/commands.yml", 9),
    ("plaintext-secret", "catalog.yml", 22),
    ("image-unpinned", "playbooks/templates/images/compose.yaml.j2", 3),
    ("restart-without-handler", "playbooks/restarts.yml", 12),
    ("hardcoded-hosts", "playbooks/hosts.yml", 2),
    ("hardcoded-hosts", "playbooks/hosts.yml", 10),
}]  # fmt: skip


def test_exactly_the_mechanical_fixes_have_a_diff() -> None:
    with_diff = sorted((f.rule, f.path, f.line) for f in seeded_findings() if f.diff)
    assert with_diff == sorted(FIXABLE)


@pytest.mark.parametrize(("rule", "path", "line"), FIXABLE, ids=[
    f"{rule}@{path}:{line}" for rule, path, line in FIXABLE
])  # fmt: skip
def test_a_diff_applied_with_git_removes_its_finding_and_keeps_the_playbook_valid(
    seeded: Path, rule: str, path: str, line: int
) -> None:
    [finding] = [
        f for f in seeded_findings(seeded) if (f.rule, f.path, f.line) == (rule, path, line)
    ]
    assert finding.diff is not None
    subprocess.run(
        ["git", "apply", "--whitespace=error-all", "-"], input=finding.diff, text=True,
        cwd=seeded, check=True,
    )  # fmt: skip
    after = seeded_findings(seeded)
    assert (finding.rule, finding.key) not in {(f.rule, f.key) for f in after}
    assert len(after) == len(EXPECTED) - 1
    playbook = path if path.startswith("playbooks/") and path.endswith(".yml") else None
    if playbook is not None:
        check = subprocess.run(
            [Path(sys.executable).parent / "ansible-playbook", "--syntax-check", "-i",
             "inventory.yml", playbook],
            cwd=seeded, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
    else:
        load_catalog(seeded)  # still a valid catalog
