"""``chiffon catalog import`` on a repository laid out like the public homelab ones: what it
drafts from the site playbook, the roles and the inventory, and that it only reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from chiffon.catalog.importing import import_repository
from tests.repos.conftest import tree_digest


def _entries(text: str) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(text)
    return {e["id"]: e for e in data["entries"]}


def chiffon(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chiffon", *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=cwd,
    )  # fmt: skip


def test_a_tagged_and_flagged_role_of_the_site_playbook_is_an_entry_of_the_site_playbook(
    homelab: Path,
) -> None:
    text, _, _ = import_repository(homelab)
    whoami = _entries(text)["whoami"]

    assert whoami["playbook"] == "site.yml"
    assert whoami["run_tags"] == ["whoami"]
    assert whoami["flags"] == {"whoami_enabled": True}
    assert whoami["hosts"] == "homelab"
    assert whoami["services"] == ["whoami"]
    assert whoami["tags"] == ["whoami", "web", "testing"]
    # meta's description is ansible-galaxy's placeholder: the README's first paragraph.
    assert whoami["description"] == (
        "Deploys whoami, a tiny HTTP service that prints what it knows of each request: "
        "handy to test the reverse proxy."
    )


def test_variables_come_typed_from_defaults_with_their_comments_and_secrets_have_no_default(
    homelab: Path,
) -> None:
    entries = _entries(import_repository(homelab)[0])
    variables = entries["whoami"]["variables"]

    assert variables["whoami_port"] == {
        "type": "int", "default": 8080, "description": "Port the service listens on.",
    }  # fmt: skip
    assert variables["whoami_hostnames"]["type"] == "list"
    assert variables["whoami_hostnames"]["default"] == ["whoami.lan"]
    assert variables["whoami_image_name"]["default"] == "traefik/whoami"
    password = variables["whoami_admin_password"]
    assert password["secret"] is True
    assert "default" not in password
    assert "placeholder" in password["description"]
    # The flag is fixed by the entry, and a mapping is nothing a plan can set.
    assert "whoami_enabled" not in variables
    assert "whoami_labels" not in variables
    # The inventory sets the Pi-hole password (from the vault): its value keeps applying.
    pihole = entries["pihole"]["variables"]["pihole_web_password"]
    assert pihole["secret"] is True
    assert "default" not in pihole
    assert "group_vars/pis/vars.yml" in pihole["description"]


def test_a_role_gating_itself_on_its_flag_and_the_whole_playbook_are_entries_too(
    homelab: Path,
) -> None:
    entries = _entries(import_repository(homelab)[0])

    assert list(entries) == ["common", "whoami", "jellyfin", "pihole", "site"]
    assert entries["jellyfin"]["run_tags"] == ["jellyfin", "media"]
    assert entries["jellyfin"]["flags"] == {"jellyfin_enabled": True}
    assert entries["common"]["run_tags"] == ["common"]
    assert "flags" not in entries["common"]
    assert entries["pihole"]["hosts"] == "pis"
    site = entries["site"]
    assert site["playbook"] == "site.yml"
    assert "run_tags" not in site
    assert site["risk"] == "high"
    assert site["services"] == ["common", "whoami", "jellyfin", "pihole"]
    assert site["description"] == (
        "The homelab's site playbook: every service, each behind its *_enabled flag."
    )


def test_the_header_names_the_requirements_the_vault_files_and_the_inventory(
    homelab: Path,
) -> None:
    text, _, _ = import_repository(homelab)
    header = text.split("version: 1")[0]

    assert "collections community.docker, community.general" in header
    assert "roles geerlingguy.docker" in header
    assert "ansible-galaxy install -r requirements.yml" in header
    assert "group_vars/pis/vault.yml" in header
    assert yaml.safe_load(text)["inventory"] == "hosts.ini"


def test_a_role_with_no_tag_nor_flag_runs_only_with_its_playbook_and_says_so(
    homelab: Path,
) -> None:
    site = homelab / "site.yml"
    site.write_text(site.read_text().replace("      tags: [common]\n", ""))

    text, draft, _ = import_repository(homelab)

    assert "common" not in _entries(text)
    assert any("role common of site.yml has no tag" in note for note in draft.notes)


def test_import_only_reads_the_repository_and_writes_the_draft_where_asked(
    homelab: Path, tmp_path: Path
) -> None:
    before = tree_digest(homelab)
    printed = chiffon("catalog", "import", str(homelab))
    assert printed.returncode == 0, printed.stderr
    written = chiffon("catalog", "import", str(homelab), "-o", str(tmp_path / "draft.yml"))
    assert written.returncode == 0, written.stderr

    assert tree_digest(homelab) == before
    assert (tmp_path / "draft.yml").read_text() == printed.stdout
    assert f"use it as {homelab / 'catalog.yml'}" in written.stderr
    again = chiffon("catalog", "import", str(homelab), "-o", str(tmp_path / "draft.yml"))
    assert again.returncode == 2
    assert "exists: pass --force" in again.stderr


def test_a_directory_with_no_playbook_is_refused_in_one_sentence(tmp_path: Path) -> None:
    done = chiffon("catalog", "import", str(tmp_path))

    assert done.returncode == 2
    assert done.stderr == (
        f"chiffon: {tmp_path} has no playbook (a YAML list of plays with `hosts:`) at its "
        "root or under playbooks/\n"
    )
